import { Session } from 'node:inspector/promises';
import { fileURLToPath } from 'node:url';

/**
 * V8's precise (block) coverage of this process, for the fuzzer's reach into the emulated
 * chip: which of `rig/emulator/`'s code its cases made run, as the share of each module's
 * code (non-blank characters, as V8 ran it after tsx stripped the types) inside blocks
 * that ran, and of its functions called.
 */
export interface FileCoverage {
  file: string;
  /** Non-blank characters of the module's code, and how many of them ran. */
  bytes: number;
  covered: number;
  functions: number;
  functionsRun: number;
}

export class CoverageProbe {
  #session = new Session();

  async start(): Promise<void> {
    this.#session.connect();
    await this.#session.post('Profiler.enable');
    await this.#session.post('Debugger.enable');
    await this.#session.post('Profiler.startPreciseCoverage', { callCount: true, detailed: true });
  }

  /** Coverage of the loaded scripts whose path contains `fragment` (e.g. "/rig/emulator/"). */
  async take(fragment: string): Promise<FileCoverage[]> {
    const { result } = await this.#session.post('Profiler.takePreciseCoverage');
    await this.#session.post('Profiler.stopPreciseCoverage');
    const out: FileCoverage[] = [];
    for (const script of result) {
      if (!script.url.startsWith('file:')) continue;
      const file = fileURLToPath(script.url);
      if (!file.includes(fragment) || /\.test\.ts$/.test(file)) continue;
      const { scriptSource } = await this.#session
        .post('Debugger.getScriptSource', {
          scriptId: script.scriptId,
        })
        .catch(() => ({ scriptSource: '' }));
      if (!scriptSource) continue;
      // Byte counts: the outermost range first, nested ranges override (V8's block order).
      const counts = new Int32Array(scriptSource.length).fill(-1);
      const ranges = script.functions
        .flatMap((f) => f.ranges)
        .sort((a, b) => a.startOffset - b.startOffset || b.endOffset - a.endOffset);
      for (const r of ranges) counts.fill(r.count, r.startOffset, Math.min(r.endOffset, counts.length));
      // The code part of the module as V8 ran it (tsx appends an inline source map).
      const end = scriptSource.lastIndexOf('//# sourceMappingURL=');
      const code = end > 0 ? scriptSource.slice(0, end) : scriptSource;
      let bytes = 0;
      let covered = 0;
      for (let i = 0; i < code.length; i++) {
        const ch = code.charCodeAt(i);
        if (ch === 32 || ch === 10 || ch === 9 || ch === 13) continue;
        bytes++;
        if ((counts[i] ?? 0) > 0) covered++;
      }
      const fns = script.functions.filter((f) => f.functionName !== '' || f.ranges[0]!.startOffset !== 0);
      out.push({
        file,
        bytes,
        covered,
        functions: fns.length,
        functionsRun: fns.filter((f) => f.ranges[0]!.count > 0).length,
      });
    }
    return out.sort((a, b) => a.file.localeCompare(b.file));
  }

  async close(): Promise<void> {
    this.#session.disconnect();
  }
}
