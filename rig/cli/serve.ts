import { ConfigError } from '../errors.ts';
import { newToken, parseListen } from '../serve/security.ts';
import { serve } from '../serve/server.ts';
import { loadStationFile } from '../station/station-file.ts';
import { EXIT } from './exit-codes.ts';
import { resultsTarget } from './run.ts';

export interface ServeCommandOptions {
  station?: string;
  listen: string;
  db?: string;
  runs: string;
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
  const served = await serve({
    stationFile: opts.station,
    listen,
    token,
    database,
    runsDir: opts.runs,
    log: out,
  });
  out(`chiprig serve: station "${file.name}" at ${served.url}/${told} (Ctrl-C stops it)`);
  // A token of serve's own making is shown this once, in the address to open; never again.
  if (token && !told)
    out(
      `open ${served.url}/?token=${token} once in the browser (it keeps a cookie); scripts send Authorization: Bearer with it`,
    );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  out('chiprig serve: stopping (a run going is stopped and marked interrupted)');
  await served.close();
  return EXIT.PASSED;
}
