import Mathlib

theorem a : reach 3 := by sorry
lemma b :
  reach 2 := by
  sorry
