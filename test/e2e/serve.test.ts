/**
 * chiprig serve over HTTP, as a lab's scripts and a browser reach it: one run at a time, a
 * run followed to its end and its results in the database, a run cut off when the server is
 * killed, and nobody else getting in (host, origin and token checks; no token or key in any
 * page or log). The page itself is driven in Chromium by serve-browser.test.ts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { EXIT } from '../../rig/cli/exit-codes.ts';
import { EMBEDDED_DATA_FIRST } from '../../rig/report/html.ts';
import { ResultsStore } from '../../rig/results/store.ts';
import { chiprig, FIXTURES, type ServeProcess, serveProcess, stationCopy, tmp } from '../support/spawn.ts';

interface Live {
  state: string;
  exitCode: number | null;
  runId: string;
  tests: { title: string; outcome: string }[];
}

async function state(s: ServeProcess): Promise<{ run: Live | null }> {
  const res = await fetch(`${s.url}/api/state`);
  return (await res.json()) as { run: Live | null };
}

/** Polls the live state until `done` holds (at most `ms`). */
async function until(s: ServeProcess, done: (run: Live | null) => boolean, ms: number): Promise<Live> {
  const end = Date.now() + ms;
  for (;;) {
    const { run } = await state(s);
    if (done(run)) return run!;
    if (Date.now() > end)
      throw new Error(`not reached within ${ms} ms: ${JSON.stringify(run)?.slice(0, 2000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const post = (s: ServeProcess, path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${s.url}${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Origin: s.url, ...headers },
    body: JSON.stringify(body),
  });

describe('chiprig serve', function () {
  this.timeout(120_000);
  let dir: string;
  let db: string;
  const servers: ServeProcess[] = [];

  before(() => {
    dir = tmp();
    db = join(dir, 'results.db');
  });
  after(async () => {
    for (const s of servers) s.child.kill('SIGKILL');
    await Promise.all(servers.map((s) => s.stopped));
    rmSync(dir, { recursive: true, force: true });
  });

  const start = async (args: string[], env: NodeJS.ProcessEnv = {}) => {
    const s = await serveProcess(['--db', db, '--runs', join(dir, 'runs'), ...args], env);
    servers.push(s);
    return s;
  };

  it('SERVE-01 runs one run at a time, follows it to its end, and its results are in the database', async () => {
    const s = await start(['--listen', '127.0.0.1:0']);
    const res = await post(s, '/api/runs', { suites: ['u2f'], transports: ['hid'], grep: 'U2F-(VER|REG)-0' });
    assert.equal(res.status, 202, await res.clone().text());
    const { runId } = (await res.json()) as { runId: string };
    const second = await post(s, '/api/runs', { suites: ['u2f'] });
    assert.equal(second.status, 409);
    assert.match(
      ((await second.json()) as { error: string }).error,
      /a run is already going on this station \(run [0-9a-f]{8}/,
    );

    const run = await until(s, (r) => r?.state === 'ended', 90_000);
    assert.equal(run.runId, runId);
    assert.equal(run.exitCode, EXIT.PASSED);
    assert.ok(run.tests.length >= 10, `${run.tests.length} tests`);
    const shown = await chiprig(['results', 'show', runId, '--db', db, '--json']);
    assert.equal(shown.code, 0, shown.stderr);
    const stored = JSON.parse(shown.stdout) as {
      run: { status: string; passed: number; report_dir: string };
      results: unknown[];
    };
    assert.equal(stored.run.status, 'passed');
    assert.equal(stored.results.length, run.tests.length);
    assert.equal(stored.run.passed, run.tests.length);
    // Its report is served, sandboxed away from the server's own pages.
    const report = await fetch(`${s.url}/reports/${runId}`);
    assert.equal(report.status, 200);
    assert.match(report.headers.get('content-security-policy') ?? '', /^sandbox /);
    const page = await report.text();
    const declared = page.indexOf(EMBEDDED_DATA_FIRST);
    assert.ok(
      declared > 0 && declared < page.indexOf('src="data:text/javascript'),
      'the report data are declared before the report application',
    );
    // A folder report (too large for one file) cannot be read through the sandbox: it says how to open it.
    mkdirSync(join(stored.run.report_dir, 'widgets'));
    const folder = await fetch(`${s.url}/reports/${runId}`);
    assert.equal(folder.status, 409);
    const said = await folder.text();
    assert.match(
      said,
      new RegExp(`folder report.*npx allure open FOLDER \\(its folder: chiprig results show ${runId}\\)`),
    );
    assert.ok(!said.includes(dir), 'a host path in the answer');
    // A bad request names what is wrong.
    const bad = await post(s, '/api/runs', { suites: ['u2f', 'nope'] });
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: string }).error, /no suite nope/);
  });

  it('SERVE-02 a server killed mid-run leaves every completed result, and the run marked interrupted', async () => {
    const s = await start(['--listen', '127.0.0.1:0']);
    const res = await post(s, '/api/runs', { suites: ['u2f', 'perf'] });
    assert.equal(res.status, 202);
    const { runId } = (await res.json()) as { runId: string };
    const seen = await until(s, (r) => (r?.tests.length ?? 0) >= 15, 60_000);
    s.child.kill('SIGKILL');
    await s.stopped;
    // The run notices its server is gone, marks itself interrupted and ends.
    const store = await ResultsStore.open(db);
    try {
      let run = await store.findRun(runId);
      for (let i = 0; i < 100 && run.status === 'running'; i++) {
        await new Promise((r) => setTimeout(r, 100));
        run = await store.findRun(runId);
      }
      assert.equal(run.status, 'interrupted');
      assert.match(run.note ?? '', /went away|output was closed/);
      const results = await store.results(runId);
      assert.ok(
        results.length >= seen.tests.length,
        `${results.length} results kept, ${seen.tests.length} seen`,
      );
      assert.equal(run.passed + run.failed + run.broken + run.skipped + run.advisory, results.length);
      assert.ok(run.ended_at);
    } finally {
      await store.close();
    }
  });

  it('SERVE-03 on loopback a page from another site cannot start a run, nor a rebound name reach it', async () => {
    const s = await start(['--listen', '127.0.0.1:0']);
    const foreign = await post(s, '/api/runs', {}, { Origin: 'http://evil.example' });
    assert.equal(foreign.status, 403);
    const none = await fetch(`${s.url}/api/runs`, {
      method: 'POST',
      body: '{}',
      headers: { 'Content-Type': 'application/json' },
    });
    assert.equal(none.status, 403);
    const crossSite = await post(s, '/api/stop', {}, { 'Sec-Fetch-Site': 'cross-site' });
    assert.equal(crossSite.status, 403);
    // fetch will not send another Host: a plain request, as a rebound name's page would.
    const rebound = await new Promise<number>((resolve, reject) => {
      const req = request(`${s.url}/api/state`, { headers: { Host: 'evil.example' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(rebound, 403);
    const page = await fetch(`${s.url}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self'/);
  });

  it('SERVE-04 beyond loopback every request without the token is refused; the token is printed once and never in a page', async () => {
    const external = Object.values(networkInterfaces())
      .flat()
      .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
    if (!external)
      process.stdout.write('      (no address but loopback here: the requests go to 127.0.0.1)\n');
    const station = stationCopy(dir);
    const s = await start(['--listen', '0.0.0.0:0', '--station', station]);
    const url = s.url.replace('0.0.0.0', external ?? '127.0.0.1');
    const token = /\?token=(\S+) once/.exec(s.output())?.[1];
    assert.ok(token, s.output());
    assert.equal(s.output().split(token).length - 1, 1, 'the token is printed once');
    assert.match(
      s.output(),
      /plain HTTP beyond loopback: the token and the pages cross the network in the clear/,
    );

    const paths = ['/', '/history', '/static/app.js', '/api/state', '/api/events', '/api/runs', '/reports/x'];
    for (const p of paths) {
      const res = await fetch(`${url}${p}`);
      assert.equal(res.status, 401, `${p}: ${res.status}`);
      assert.ok(!(await res.text()).includes(token));
    }
    for (const [p, body] of [
      ['/api/runs', {}],
      ['/api/stop', {}],
      ['/api/prompts/1', { text: '' }],
    ] as const) {
      const res = await fetch(`${url}${p}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Origin: url },
        body: JSON.stringify(body),
      });
      assert.equal(res.status, 401, `POST ${p}`);
    }
    const wrong = await fetch(`${url}/api/state`, { headers: { Authorization: 'Bearer not-the-token' } });
    assert.equal(wrong.status, 401);

    // With the token: in the address once (traded for a cookie), then the cookie or a header.
    const first = await fetch(`${url}/?token=${token}`, { redirect: 'manual' });
    assert.equal(first.status, 303);
    assert.equal(first.headers.get('location'), '/');
    const cookie = first.headers.get('set-cookie') ?? '';
    assert.match(cookie, /HttpOnly; SameSite=Strict/);
    const withCookie = await fetch(`${url}/api/state`, { headers: { Cookie: cookie.split(';')[0]! } });
    assert.equal(withCookie.status, 200);
    const bearer = { Authorization: `Bearer ${token}` };
    const keyPem = readFileSync(join(FIXTURES, 'attestation/batch-key.pem'), 'utf8');
    const keyBody = keyPem.split('\n')[1]!;
    for (const p of ['/', '/history', '/static/app.js', '/api/state', '/api/runs']) {
      const res = await fetch(`${url}${p}`, { headers: bearer });
      assert.equal(res.status, 200, p);
      const text = await res.text();
      assert.ok(!text.includes(token), `${p} shows the token`);
      assert.ok(!text.includes('PRIVATE KEY') && !text.includes(keyBody), `${p} shows a private key`);
    }
    // The origin check holds with the token too.
    const foreign = await fetch(`${url}/api/stop`, {
      method: 'POST',
      headers: { ...bearer, 'Content-Type': 'application/json', Origin: 'http://evil.example' },
      body: '{}',
    });
    assert.equal(foreign.status, 403);
    assert.equal(s.output().split(token).length - 1, 1, 'the token is not logged');
  });

  it("SERVE-05 a station's own token is never printed", async () => {
    const station = stationCopy(dir, (y) => `${y}\nserve: { token: station-token-0123456789abcdef }\n`);
    const s = await start(['--listen', '0.0.0.0:0', '--station', station]);
    assert.ok(!s.output().includes('station-token-0123456789abcdef'), s.output());
    assert.match(s.output(), /token: the station file's serve\.token/);
    const url = s.url.replace('0.0.0.0', '127.0.0.1');
    assert.equal((await fetch(`${url}/api/state`)).status, 401);
    const ok = await fetch(`${url}/api/state`, {
      headers: { Authorization: 'Bearer station-token-0123456789abcdef' },
    });
    assert.equal(ok.status, 200);
  });

  it('SERVE-07 operator prompts go to the open pages and are answered there; with no page open the case is skipped with the reason', async () => {
    // A station whose power is switched by hand: ENV-PWR-01 asks "Unplug the key" and "Plug
    // the key back in" for each of its power cycles.
    const station = stationCopy(dir, (y) =>
      y.replace(/^ {2}power: \{ kind: firmata.*$/m, '  power: { kind: manual }'),
    );
    const s = await start(['--listen', '127.0.0.1:0', '--station', station]);
    const request = { suites: ['env'], grep: 'ENV-PWR-01' };

    // No page open: nobody can answer, so the prompt fails at once and the case is skipped.
    assert.equal((await post(s, '/api/runs', request)).status, 202);
    let run = await until(s, (r) => r?.state === 'ended', 60_000);
    assert.deepEqual(
      run.tests.map((t) => t.outcome),
      ['skipped'],
    );
    assert.match((run.tests[0] as { message?: string }).message ?? '', /no operator: "Unplug the key/);

    // A page open (its event stream): each prompt shows there and its answer goes on.
    const page = new AbortController();
    const events = await fetch(`${s.url}/api/events`, { signal: page.signal });
    assert.equal(events.headers.get('content-type'), 'text/event-stream; charset=utf-8');
    try {
      assert.equal((await post(s, '/api/runs', request)).status, 202);
      const asked = new Set<string>();
      const deadline = Date.now() + 90_000;
      for (;;) {
        const { run: r } = (await (await fetch(`${s.url}/api/state`)).json()) as {
          run: Live & { prompts: { id: number; kind: string; text: string }[] };
        };
        if (r.state === 'ended') {
          run = r;
          break;
        }
        assert.ok(Date.now() < deadline, 'the run did not end');
        for (const p of r.prompts) {
          asked.add(p.text);
          await post(s, `/api/prompts/${p.id}`, { text: '' });
        }
        await new Promise((resolve) => setTimeout(resolve, 30));
      }
      assert.deepEqual([...asked].sort(), ['Plug the key back in', 'Unplug the key (cut its power)']);
      assert.deepEqual(
        run.tests.map((t) => t.outcome),
        ['passed'],
      );
      // An answer to a prompt that no longer stands is refused.
      const late = await post(s, '/api/prompts/1', { text: '' });
      assert.equal(late.status, 409);
    } finally {
      page.abort();
    }
  });

  it('SERVE-06 over HTTPS (--tls-cert, --tls-key): the token checks hold, the cookie is Secure, the origin is https', async () => {
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    const made = spawnSync('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=chiprig serve test',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      key,
      '-out',
      cert,
    ]);
    assert.equal(made.status, 0, made.stderr?.toString());
    const s = await start(['--listen', '0.0.0.0:0', '--tls-cert', cert, '--tls-key', key]);
    assert.match(s.url, /^https:\/\//);
    assert.doesNotMatch(s.output(), /plain HTTP beyond loopback/);
    const token = /\?token=(\S+) once/.exec(s.output())?.[1];
    assert.ok(token, s.output());
    const url = s.url.replace('0.0.0.0', '127.0.0.1');
    const ca = readFileSync(cert);
    const call = (path: string, init: { method?: string; headers?: Record<string, string> } = {}) =>
      new Promise<{ status: number; headers: Record<string, string | string[] | undefined> }>(
        (resolve, reject) => {
          const req = httpsRequest(
            `${url}${path}`,
            { ca, method: init.method ?? 'GET', headers: init.headers ?? {} },
            (res) => {
              res.resume();
              resolve({ status: res.statusCode ?? 0, headers: res.headers });
            },
          );
          req.on('error', reject);
          req.end(init.method === 'POST' ? '{}' : undefined);
        },
      );
    assert.equal((await call('/api/state')).status, 401);
    const bearer = { Authorization: `Bearer ${token}` };
    assert.equal((await call('/api/state', { headers: bearer })).status, 200);
    const first = await call(`/?token=${token}`);
    assert.equal(first.status, 303);
    assert.match(String(first.headers['set-cookie']), /HttpOnly; SameSite=Strict; Path=\/; Secure/);
    const json = { ...bearer, 'Content-Type': 'application/json' };
    // No run is going: 409 means the request got through the checks.
    assert.equal(
      (await call('/api/stop', { method: 'POST', headers: { ...json, Origin: url } })).status,
      409,
    );
    const http = url.replace('https://', 'http://');
    assert.equal(
      (await call('/api/stop', { method: 'POST', headers: { ...json, Origin: http } })).status,
      403,
    );
    // Plain HTTP to the TLS port gets no page.
    await assert.rejects(fetch(`${http}/api/state`));
  });
});
