import { Session } from 'node:inspector/promises';
import { fileURLToPath } from 'node:url';

/**
 * V8's precise (block) coverage of this process, for the fuzzer's reach into the emulated
 * chip: which of `rig/emulator/`'s code its cases made run. Lines are those of the modules
 * as V8 ran them (tsx strips the types but keeps the line layout close to the source).
 */
export interface FileCoverage {
  file: string;
  lines: number;
  covered: number;
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
      let lines = 0;
      let covered = 0;
      let offset = 0;
      for (const line of scriptSource.split('\n')) {
        const text = line.trim();
        const first = offset + line.length - line.trimStart().length;
        offset += line.length + 1;
        if (
          !text ||
          text.startsWith('//') ||
          text.startsWith('*') ||
          text.startsWith('/*') ||
          /^[})\];,]+$/.test(text) ||
          text.startsWith('import ')
        )
          continue;
        lines++;
        if ((counts[first] ?? 0) > 0) covered++;
      }
      out.push({ file, lines, covered });
    }
    return out.sort((a, b) => a.file.localeCompare(b.file));
  }

  async close(): Promise<void> {
    this.#session.disconnect();
  }
}
