#include "backends/devices.h"

#include <unistd.h>

#include <fstream>
#include <thread>

#include "backends/cpu/cpu_isa.h"
#include "wick/error.h"

namespace wick {
namespace {

std::string cpu_model_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(" \t", colon + 1));
    }
  return "unknown CPU";
}

std::string device_names() {
  std::string out;
  for (const DeviceInfo& d : list_devices()) out += (out.empty() ? "" : ", ") + d.name;
  return out;
}

}  // namespace

std::vector<DeviceInfo> list_devices() {
  DeviceInfo cpu;
  cpu.name = "cpu";
  cpu.description = cpu_model_name();
  cpu.isa = cpu_isa_name(default_cpu_isa());
  cpu.cores = static_cast<int>(std::thread::hardware_concurrency());
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  cpu.memory_bytes = pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) : 0;
  // GPUs join this list when wick is built with its CUDA backend (not yet: issue 16).
  return {cpu};
}

std::string resolve_device(const std::string& device) {
  if (device == "auto" || device.empty()) return list_devices().front().name;
  if (device == "cpu" || device == "reference") return device;
  if (device.rfind("cpu:", 0) == 0) {
    cpu_isa_from_name(device.substr(4));  // throws for an unknown ISA or one this processor lacks
    return device;
  }
  if (device == "cuda" || device.rfind("cuda:", 0) == 0)
    throw Error(ErrorCode::kUnsupported,
                "device \"" + device + "\": this build of wick has no CUDA backend (devices: " + device_names() + ")");
  throw Error(ErrorCode::kInvalidArgument,
              "unknown device \"" + device + "\" (cpu, cpu:ISA, cuda, cuda:N, reference or auto; this machine: " + device_names() + ")");
}

int cap_cpu_threads(int n_threads) {
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  return cores > 0 && n_threads > cores ? cores : n_threads;
}

std::unique_ptr<Backend> make_backend(const std::string& device, int n_threads) {
  // Throws for a device this build or machine lacks; "cpu[:ISA]" and "reference" are what remain.
  const std::string resolved = resolve_device(device);
  if (resolved == "reference") return make_reference_backend();
  // More threads than cores only time-slice: every parallel step then waits for descheduled
  // workers (2 cores at --threads 1000 decoded at 0.2 tokens/s).
  n_threads = cap_cpu_threads(n_threads);
  if (resolved.rfind("cpu:", 0) == 0) return make_cpu_backend_for_isa(n_threads, cpu_isa_from_name(resolved.substr(4)));
  return make_cpu_backend(n_threads);
}

}  // namespace wick
