import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { createSecureContext } from 'node:tls';
import { ConfigError } from '../errors.ts';
import type { LivePrompt, RunManager } from '../serve/run-manager.ts';
import { newToken, parseListen } from '../serve/security.ts';
import { serve } from '../serve/server.ts';
import { loadStationFile, type StationFile } from '../station/station-file.ts';
import { deviceText } from '../untrusted.ts';
import { EXIT } from './exit-codes.ts';
import { resultsTarget } from './run.ts';

export interface ServeCommandOptions {
  station?: string;
  listen: string;
  db?: string;
  runs: string;
  tlsCert?: string;
  tlsKey?: string;
}

const out = (line: string) => process.stdout.write(`${line}\n`);

/** `chiprig serve`: the station in a browser until Ctrl-C or SIGTERM. */
export async function serveCommand(opts: ServeCommandOptions): Promise<number> {
  const listen = parseListen(opts.listen);
  const file = loadStationFile(opts.station);
  const database = resultsTarget(opts.db, file);
  if (database === undefined)
    throw new ConfigError('serve keeps every run in the results database: drop CHIPRIG_RESULTS_DB=none');
  let token: string | undefined;
  let told = '';
  if (!listen.loopback) {
    const named = file.serve?.token ?? process.env.CHIPRIG_SERVE_TOKEN;
    token = named ?? newToken();
    told = named
      ? ` (token: the station file's serve.token${file.serve?.token ? '' : ', here CHIPRIG_SERVE_TOKEN'})`
      : '';
  }
  const tls = tlsFiles(opts, file);
  if (!listen.loopback && !tls) {
    process.stderr.write(
      'chiprig serve: plain HTTP beyond loopback: the token and the pages cross the network in the clear; give --tls-cert and --tls-key (or serve.tls in the station file) on a shared network\n',
    );
  }
  const served = await serve({
    stationFile: opts.station,
    listen,
    token,
    database,
    runsDir: opts.runs,
    tls,
    log: out,
  });
  // One write: a script that reads the address reads the token line with it. A token of
  // serve's own making is shown this once, in the address to open; never again.
  const lines = [`chiprig serve: station "${file.name}" at ${served.url}/${told} (Ctrl-C stops it)`];
  if (token && !told) {
    lines.push(
      `open ${served.url}/?token=${token} once in the browser (it keeps a cookie); scripts send Authorization: Bearer with it`,
    );
  }
  out(lines.join('\n'));
  const stopTerminal = terminalPrompts(served.runs);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  stopTerminal();
  out('chiprig serve: stopping (a run going is stopped and marked interrupted)');
  await served.close();
  return EXIT.PASSED;
}

/**
 * The terminal serve runs in answers prompts too (where a person is at it): each prompt is
 * printed as `chiprig run` prints it, and Enter (with what was typed) answers the oldest
 * one still standing; the page may answer first.
 */
function terminalPrompts(runs: RunManager): () => void {
  if (!process.stdin.isTTY || process.env.CI) return () => undefined;
  runs.terminal = true;
  const rl = createInterface({ input: process.stdin, terminal: false });
  const onUpdate = (kind: string, data: { prompt?: LivePrompt }) => {
    if (kind !== 'prompt' || !data.prompt) return;
    const p = data.prompt;
    process.stderr.write(
      `>>> ${deviceText(p.text, 400)} (press Enter here or answer in the page; ${Math.round(p.timeoutMs / 1000)} s) <<<\n`,
    );
  };
  rl.on('line', (line) => {
    const standing = runs.current?.prompts[0];
    if (standing) runs.answer(standing.id, line.trim());
  });
  runs.on('update', onUpdate);
  return () => {
    runs.off('update', onUpdate);
    rl.close();
  };
}

/** The certificate and key: the flags (both), else the station file's serve.tls; none: plain HTTP. */
function tlsFiles(opts: ServeCommandOptions, file: StationFile): { cert: Buffer; key: Buffer } | undefined {
  if ((opts.tlsCert === undefined) !== (opts.tlsKey === undefined)) {
    throw new ConfigError('--tls-cert and --tls-key go together: give both, or neither');
  }
  const named = opts.tlsCert
    ? { cert: resolve(opts.tlsCert), key: resolve(opts.tlsKey!), where: '--tls-cert/--tls-key' }
    : file.serve?.tls
      ? {
          cert: resolve(file.dir, file.serve.tls.cert),
          key: resolve(file.dir, file.serve.tls.key),
          where: `${file.path}: serve.tls`,
        }
      : undefined;
  if (!named) return undefined;
  const read = (path: string, what: string) => {
    try {
      return readFileSync(path);
    } catch (error) {
      throw new ConfigError(`${named.where}: cannot read the ${what} ${path}: ${(error as Error).message}`);
    }
  };
  const tls = { cert: read(named.cert, 'certificate'), key: read(named.key, 'key') };
  try {
    createSecureContext(tls);
  } catch (error) {
    throw new ConfigError(`${named.where}: not a certificate and its key (PEM): ${(error as Error).message}`);
  }
  return tls;
}
