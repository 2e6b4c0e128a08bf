// The machines' compute devices and the backend for a device name. EngineOptions::device and
// every CLI's --device take: "cpu", "cpu:ISA" (the CPU kernels of one instruction set, e.g.
// "cpu:avx2" on an AVX-512 machine), "cuda" / "cuda:N" (a GPU, when wick is built with CUDA),
// "auto" (the best the machine has) or "reference" (the scalar reference backend over its
// arena memory: slow, for tests and for checking a result). `wick devices` prints list_devices().
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backends/backend.h"

namespace wick {

struct DeviceInfo {
  std::string name;         // what --device takes: "cpu", "cuda:0"
  std::string description;  // "AMD EPYC 9654 96-Core Processor"
  std::string isa;          // CPU: the instruction set the kernels run with ("avx512vnni")
  int cores = 0;            // CPU: logical cores
  uint64_t memory_bytes = 0;
};

// Every device this build can run on, the one "auto" picks first.
std::vector<DeviceInfo> list_devices();

// The backend for `device` ("auto", "cpu[:ISA]", "cuda[:N]", "reference") with n_threads CPU
// threads (0 = all cores; more than the machine's cores are capped to them: cap_cpu_threads). Throws kInvalidArgument for an unknown name
// and kUnsupported for a device this build or machine lacks, naming the devices it has.
std::unique_ptr<Backend> make_backend(const std::string& device, int n_threads);

// n_threads, or the machine's logical cores when it asks for more.
int cap_cpu_threads(int n_threads);

// "auto" -> the name it resolves to; others as given, after checking they exist.
std::string resolve_device(const std::string& device);

}  // namespace wick
