"""What a run's device is doing: the devices a run can use here, and live CPU / GPU facts for the
training tab (psutil for the CPU, NVML through nvidia-ml-py for CUDA when it is installed)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


from studio.live.runs import Run


def devices() -> list[str]:
    """Devices a run can use here, the best first: CUDA when present, else the CPU."""
    import torch

    return ["cuda", "cpu"] if torch.cuda.is_available() else ["cpu"]


# ----------------------------------------------------------------------------- device


_nvml: dict = {}  # "ok": bool once NVML was tried; psutil.Process objects keep CPU-time baselines
_processes: dict[int, Any] = {}


def device_stats(run: Run, last_event: Mapping[str, Any] | None = None) -> dict:
    """What the run's device is doing now. CUDA: name, memory used/total and utilization through
    NVML (nvidia-ml-py) when installed, plus torch's allocated/reserved memory from the run's own
    events. CPU: the trainer's CPU use and resident memory (psutil) and the machine's RAM."""
    last_event = last_event or {}
    if run.device.startswith("cuda"):
        stats: dict[str, Any] = {"kind": "cuda", "name": run.device,
                                 "memory_allocated_mb": last_event.get("memory_mb"),
                                 "memory_reserved_mb": last_event.get("memory_reserved_mb")}
        stats.update(_nvml_stats(int(run.device.partition(":")[2] or 0)))
        return stats
    import psutil

    memory = psutil.virtual_memory()
    stats = {"kind": "cpu", "name": f"CPU, {psutil.cpu_count()} cores", "ram_used_percent": memory.percent,
             "ram_total_mb": memory.total / 2**20, "process_cpu_percent": None,
             "process_rss_mb": last_event.get("memory_mb"), "note": ""}
    if run.status == "running" and run.pid:
        try:
            process = _processes.get(run.pid)
            if process is None or not process.is_running():
                process = _processes[run.pid] = psutil.Process(run.pid)
                process.cpu_percent(None)  # the first call only sets the baseline
            with process.oneshot():
                stats["process_cpu_percent"] = process.cpu_percent(None)
                stats["process_rss_mb"] = process.memory_info().rss / 2**20
                stats["threads"] = process.num_threads()
        except psutil.Error as error:
            stats["note"] = f"cannot read the training process: {error}"
    return stats


def _nvml_stats(index: int) -> dict:
    try:
        import pynvml
    except ImportError:
        return {"note": "install nvidia-ml-py for the GPU's name, utilization and total memory"}
    try:
        if not _nvml.get("ok"):
            pynvml.nvmlInit()
            _nvml["ok"] = True
        handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        name = pynvml.nvmlDeviceGetName(handle)
        memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
        return {"name": name.decode() if isinstance(name, bytes) else name,
                "memory_used_mb": memory.used / 2**20, "memory_total_mb": memory.total / 2**20,
                "utilization_percent": float(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu), "note": ""}
    except pynvml.NVMLError as error:
        return {"note": f"NVML cannot read GPU {index}: {error}"}
