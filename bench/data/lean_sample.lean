import Mathlib.Analysis.SpecialFunctions.Pow.Real
import Mathlib.NumberTheory.Divisors
import Mathlib.Tactic

open Real Nat Finset BigOperators

/-- The sum of the first `n` odd numbers is `n ^ 2`. -/
theorem sum_odd (n : ℕ) : ∑ i in range n, (2 * i + 1) = n ^ 2 := by
  induction n with
  | zero => simp
  | succ k ih =>
    rw [sum_range_succ, ih]
    ring

theorem amc12a_2019_p21 (z : ℂ) (h₀ : z = (1 + Complex.I) / Real.sqrt 2) :
    (∑ k in Icc 1 12, z ^ k ^ 2) * (∑ k in Icc 1 12, 1 / z ^ k ^ 2) = 36 := by
  sorry

lemma two_mul_le_sq_add_sq (a b : ℝ) : 2 * a * b ≤ a ^ 2 + b ^ 2 := by
  nlinarith [sq_nonneg (a - b), sq_nonneg (a + b)]

theorem mathd_algebra_48 (q e : ℂ) (h₀ : q = 9 - 4 * Complex.I) (h₁ : e = -3 - 4 * Complex.I) :
    q - e = 12 := by
  rw [h₀, h₁]
  ring

example (f : ℕ → ℕ) (hf : ∀ m n, f (m + n) = f m + f n) : f 0 = 0 := by
  have h := hf 0 0
  simp at h
  omega

theorem exists_prime_gt (n : ℕ) : ∃ p, n < p ∧ p.Prime := by
  obtain ⟨p, hp, hprime⟩ := Nat.exists_infinite_primes (n + 1)
  exact ⟨p, by omega, hprime⟩

lemma abs_sub_lt_of_mem {x y ε : ℝ} (hx : |x - y| < ε / 2) (hε : 0 < ε) : |x - y| < ε := by
  linarith [abs_nonneg (x - y)]

theorem imo_1964_p1_2 (n : ℕ) : ¬ 7 ∣ (2 ^ n + 1) := by
  intro h
  have h₁ : 2 ^ n % 7 = 1 ∨ 2 ^ n % 7 = 2 ∨ 2 ^ n % 7 = 4 := by
    induction n with
    | zero => simp
    | succ k ih => omega
  omega

def collatz : ℕ → ℕ
  | 0 => 0
  | n@(k + 1) => if n % 2 = 0 then n / 2 else 3 * n + 1

instance : Inhabited (Fin (n + 1)) := ⟨0⟩

theorem dvd_sub_comm {a b c : ℤ} (h : a ∣ b - c) : a ∣ c - b := by
  rw [← neg_sub]
  exact (dvd_neg).mpr h

-- Lean 4 tactic state, as a prover sees it:
-- case succ
-- k : ℕ
-- ih : ∑ i ∈ Finset.range k, (2 * i + 1) = k ^ 2
-- ⊢ ∑ i ∈ Finset.range (k + 1), (2 * i + 1) = (k + 1) ^ 2
