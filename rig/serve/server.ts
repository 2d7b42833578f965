/**
 * chiprig serve: the station in a browser. Fastify serves the page (web/) and a JSON API;
 * live changes go to the pages as server-sent events. Runs are started and followed by the
 * RunManager; history, run pages and comparisons are read from the results database.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fastifyStatic from '@fastify/static';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { ConfigError } from '../errors.ts';
import { packagePath } from '../paths.ts';
import { compareRuns, comparisonJson, loadRun } from '../report/compare.ts';
import { describeTarget, ResultsStore, type Run, readRun } from '../results/store.ts';
import { RunManager, RunRefused } from './run-manager.ts';
import { COOKIE, judge, type Listen } from './security.ts';
import { StationView } from './station-view.ts';

export const WEB_DIR = packagePath('web');

/** Storage for a sandboxed page (which has none): a Map per page, in localStorage's shape. */
const PAGE_STORAGE = `<script>(function(){function S(){var m=new Map();return{getItem:function(k){return m.has(String(k))?m.get(String(k)):null},setItem:function(k,v){m.set(String(k),String(v))},removeItem:function(k){m.delete(String(k))},clear:function(){m.clear()},key:function(i){return Array.from(m.keys())[i]??null},get length(){return m.size}}}for(var n of['localStorage','sessionStorage']){try{window[n].length}catch(e){Object.defineProperty(window,n,{value:S(),configurable:true})}}})();</script>`;

/** Every page and API answer: nothing runs but the page's own script, nothing frames it. */
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

export interface ServeOptions {
  stationFile: string | undefined;
  listen: Listen;
  /** Needed (and checked) when listening beyond loopback. */
  token: string | undefined;
  /** The results database (file or URL). */
  database: string;
  /** Where each run's results and report go. */
  runsDir: string;
  /** Serve HTTPS with this certificate and key (PEM) instead of plain HTTP. */
  tls?: { cert: Buffer; key: Buffer } | undefined;
  log: (line: string) => void;
}

export interface Served {
  url: string;
  app: FastifyInstance;
  runs: RunManager;
  close(): Promise<void>;
}

export async function serve(opts: ServeOptions): Promise<Served> {
  const store = await ResultsStore.open(opts.database);
  await store.reapStale();
  const clients = new Set<FastifyReply>();
  const push = (kind: string, data: unknown) => {
    const frame = `event: ${kind}\ndata: ${JSON.stringify(data ?? null)}\n\n`;
    for (const c of clients) c.raw.write(frame);
  };
  let runs!: RunManager;
  const view = new StationView(opts.stationFile, (r) => runs.addReading(r));
  runs = new RunManager({
    stationFile: view.file.path,
    database: opts.database,
    runsDir: opts.runsDir,
    operatorAvailable: () => clients.size > 0,
    beforeRun: () => view.release(),
    afterRuns: () => void view.take().then(() => push('station', view.info())),
  });
  runs.on('update', (kind: string, data: unknown) => {
    if (kind === 'snapshot') push('snapshot', snapshot());
    else push(kind, data);
  });
  const snapshot = () => ({ station: view.info(), run: runs.current ?? null, reading: view.last ?? null });

  const https = opts.tls !== undefined;
  const app = (
    https
      ? Fastify({ logger: false, bodyLimit: 64 * 1024, https: { cert: opts.tls!.cert, key: opts.tls!.key } })
      : Fastify({ logger: false, bodyLimit: 64 * 1024 })
  ) as FastifyInstance;

  app.addHook('onRequest', async (req, reply) => {
    const verdict = judge(
      {
        method: req.method,
        url: req.url,
        host: req.headers.host,
        origin: req.headers.origin,
        secFetchSite: req.headers['sec-fetch-site'] as string | undefined,
        cookie: req.headers.cookie,
        authorization: req.headers.authorization,
      },
      opts.listen,
      opts.token,
      https,
    );
    reply.header('Content-Security-Policy', CSP);
    reply.header('X-Content-Type-Options', 'nosniff');
    reply.header('Referrer-Policy', 'no-referrer');
    reply.header('Cache-Control', 'no-store');
    if (!verdict.ok) {
      return reply
        .code(verdict.status ?? 403)
        .type('text/plain; charset=utf-8')
        .send(`chiprig serve: ${verdict.why}\n`);
    }
    if (verdict.setCookieAndRedirect !== undefined) {
      reply.header(
        'Set-Cookie',
        `${COOKIE}=${encodeURIComponent(opts.token!)}; HttpOnly; SameSite=Strict; Path=/${https ? '; Secure' : ''}`,
      );
      return reply.redirect(verdict.setCookieAndRedirect, 303);
    }
  });

  await app.register(fastifyStatic, { root: WEB_DIR, prefix: '/static/', index: false, wildcard: false });

  const page = (_req: unknown, reply: FastifyReply) =>
    reply.type('text/html; charset=utf-8').sendFile('index.html');
  app.get('/', page);
  app.get('/history', page);
  app.get('/runs/:id', page);
  app.get('/compare', page);

  app.get('/api/state', async () => snapshot());

  app.get('/api/events', (req, reply) => {
    reply.hijack();
    reply.raw.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
      'X-Content-Type-Options': 'nosniff',
    });
    reply.raw.write(`event: snapshot\ndata: ${JSON.stringify(snapshot())}\n\n`);
    clients.add(reply);
    runs.operatorChanged();
    const beat = setInterval(() => reply.raw.write(': keep-alive\n\n'), 15_000);
    req.raw.on('close', () => {
      clearInterval(beat);
      clients.delete(reply);
      runs.operatorChanged();
    });
  });

  app.post('/api/runs', async (req, reply) => {
    try {
      const live = await runs.start((req.body ?? {}) as Record<string, never>);
      return reply.code(202).send({ runId: live.runId });
    } catch (error) {
      if (error instanceof RunRefused) return reply.code(409).send({ error: error.message });
      if (error instanceof ConfigError) return reply.code(400).send({ error: error.message });
      throw error;
    }
  });

  app.post('/api/stop', async (_req, reply) => {
    if (!runs.stop()) return reply.code(409).send({ error: 'no run is going' });
    return { stopping: true };
  });

  app.post<{ Params: { id: string }; Body: { text?: unknown } }>('/api/prompts/:id', async (req, reply) => {
    const text = typeof req.body?.text === 'string' ? req.body.text : '';
    if (!runs.answer(Number(req.params.id), text)) {
      return reply
        .code(409)
        .send({ error: 'that prompt no longer stands (answered, timed out, or its test ended)' });
    }
    return { answered: true };
  });

  app.get<{ Querystring: Record<string, string | undefined> }>('/api/runs', async (req, reply) => {
    const q = req.query;
    let list: Run[];
    try {
      list = await store.listRuns({
        station: q.station || undefined,
        serial: q.serial || undefined,
        firmware: q.firmware || undefined,
        requirement: q.requirement || undefined,
        since: q.since || undefined,
        until: q.until || undefined,
        limit: Math.min(500, Number(q.limit) || 100),
      });
    } catch (error) {
      // A filter that is not a date, say: named, as the CLI names it.
      if (error instanceof ConfigError) return reply.code(400).send({ error: error.message });
      throw error;
    }
    // A run still going shows its counts so far.
    for (const r of list) if (r.status === 'running') Object.assign(r, await store.countOutcomes(r.id));
    return { database: store.where, runs: list.map(publicRun) };
  });

  app.get<{ Params: { id: string } }>('/api/runs/:id', async (req, reply) => {
    let run: Run;
    try {
      run = await store.findRun(req.params.id);
    } catch (error) {
      return reply.code(404).send({ error: (error as Error).message });
    }
    return {
      run: publicRun(run),
      results: await store.results(run.id),
      measurements: (await store.measurements(run.id)).map((m) => ({ ...m, detail: JSON.parse(m.detail) })),
    };
  });

  app.get<{ Querystring: { a?: string; b?: string } }>('/api/compare', async (req, reply) => {
    try {
      const a = await store.findRun(req.query.a ?? '');
      const b = await store.findRun(req.query.b ?? '');
      return { a: publicRun(a), b: publicRun(b), ...(await comparison(store, a, b)) };
    } catch (error) {
      return reply.code(400).send({ error: (error as Error).message });
    }
  });

  app.get<{ Params: { id: string } }>('/reports/:id', async (req, reply) => {
    const run = await store.findRun(req.params.id).catch(() => undefined);
    const index = run?.report_dir ? join(run.report_dir, 'index.html') : undefined;
    if (!index || !existsSync(index)) {
      return reply
        .code(404)
        .type('text/plain; charset=utf-8')
        .send('chiprig serve: this run has no HTML report (yet)\n');
    }
    if (existsSync(join(run!.report_dir!, 'widgets'))) {
      // Too large for one file (rig/report/html.ts): a folder report reads its data from the
      // files beside it, which a sandboxed page may not fetch from here.
      return reply
        .code(409)
        .type('text/plain; charset=utf-8')
        .send(
          `chiprig serve: this run's report was too large for one file and is a folder report, which opens through a web server of its own: on the station, npx allure open FOLDER (its folder: chiprig results show ${run!.id})\n`,
        );
    }
    // The report is Allure's single file, with its own inline scripts, and it shows device
    // text: it is sandboxed into an origin of its own, so nothing in it can reach this
    // server's API or cookie. Such a page has no storage; the report keeps its settings in
    // localStorage, so it gets one that lasts as long as the page.
    reply.header('Content-Security-Policy', 'sandbox allow-scripts allow-popups allow-downloads');
    const html = readFileSync(index, 'utf8');
    const at = html.search(/<head[^>]*>/i);
    const head = at < 0 ? 0 : at + html.slice(at).indexOf('>') + 1;
    return reply
      .type('text/html; charset=utf-8')
      .send(`${html.slice(0, head)}${PAGE_STORAGE}${html.slice(head)}`);
  });

  await app.listen({ host: opts.listen.host, port: opts.listen.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : opts.listen.port;
  const hostText = opts.listen.host.includes(':') ? `[${opts.listen.host}]` : opts.listen.host;
  void view.take().then(() => push('station', view.info()));

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      for (const c of clients) c.raw.end();
      clients.clear();
      await runs.shutdown();
      await view.release();
      await app.close();
      await store.close();
    })();
    return closing;
  };
  opts.log(`results database: ${describeTarget(opts.database)}`);
  return { url: `${https ? 'https' : 'http'}://${hostText}:${port}`, app, runs, close };
}

/** A run as the pages get it: host paths kept to the report's own link. */
function publicRun(r: Run) {
  return {
    ...readRun(r),
    report: r.report_dir && r.status !== 'running' ? `/reports/${r.id}` : null,
  };
}

/** compare's judgement where both results folders are on this host; else the verdict changes. */
async function comparison(store: ResultsStore, a: Run, b: Run) {
  if (a.results_dir && b.results_dir && existsSync(a.results_dir) && existsSync(b.results_dir)) {
    try {
      return {
        kind: 'compare',
        comparison: comparisonJson(compareRuns(loadRun(a.results_dir), loadRun(b.results_dir))),
      };
    } catch {
      // A folder overwritten by a later run: fall back to the database's verdicts.
    }
  }
  const key = (r: { requirement: string | null; transport: string | null; title: string }) =>
    `${r.requirement ?? r.title}${r.transport ? ` ${r.transport}` : ''}`;
  const ra = new Map((await store.results(a.id)).map((r) => [key(r), r.outcome]));
  const rb = new Map((await store.results(b.id)).map((r) => [key(r), r.outcome]));
  const changes = [...new Set([...ra.keys(), ...rb.keys()])]
    .filter((k) => ra.get(k) !== rb.get(k))
    .sort()
    .map((k) => ({ key: k, a: ra.get(k) ?? null, b: rb.get(k) ?? null }));
  return { kind: 'verdicts', changes };
}
