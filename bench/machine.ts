import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { availableParallelism, loadavg, release, totalmem } from "node:os";
import { promisify } from "node:util";

/** The machine a benchmark ran on, as RESULTS.md describes it. */
export interface MachineDescription {
  /** Cores the process may use (what `nproc` prints). */
  cores: number;
  cpuModel: string;
  memoryGb: number;
  kernel: string;
  node: string;
  /** 1-minute load average when the run started: other work on the machine makes numbers noisy. */
  loadAverage: number;
  /** grpcio and protobuf versions of the Python interpreter, when it has them. */
  python?: string;
}

function cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"));
    return m ? m[1].trim() : "unknown";
  } catch {
    return "unknown";
  }
}

/** Describes this machine; `python` is the interpreter the Python driver uses. */
export async function describeMachine(python?: string): Promise<MachineDescription> {
  let pythonVersions: string | undefined;
  if (python !== undefined) {
    try {
      const { stdout } = await promisify(execFile)(
        python,
        ["-c", "import sys, grpc, google.protobuf as p; print('Python %d.%d.%d' % sys.version_info[:3], 'grpcio', grpc.__version__, 'protobuf', p.__version__)"],
        { timeout: 30_000 },
      );
      pythonVersions = stdout.trim();
    } catch {
      pythonVersions = undefined;
    }
  }
  return {
    cores: availableParallelism(),
    cpuModel: cpuModel(),
    memoryGb: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    kernel: `Linux ${release()}`,
    node: process.version,
    loadAverage: Math.round(loadavg()[0] * 10) / 10,
    python: pythonVersions,
  };
}
