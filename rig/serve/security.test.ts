import assert from 'node:assert/strict';
import { ConfigError } from '../errors.ts';
import { RunManager } from './run-manager.ts';
import { COOKIE, cookieValue, isLoopback, judge, parseListen, type RequestFacts } from './security.ts';

const TOKEN = 'a-token-of-twenty-four-chars';

const get = (over: Partial<RequestFacts> = {}): RequestFacts => ({
  method: 'GET',
  url: '/api/state',
  host: '127.0.0.1:8070',
  origin: undefined,
  secFetchSite: undefined,
  cookie: undefined,
  authorization: undefined,
  ...over,
});

describe('serve: who gets in', () => {
  it('reads listen addresses, loopback or not, and names a bad one', () => {
    assert.deepEqual(parseListen('127.0.0.1:8070'), { host: '127.0.0.1', port: 8070, loopback: true });
    assert.deepEqual(parseListen('0.0.0.0:0'), { host: '0.0.0.0', port: 0, loopback: false });
    assert.deepEqual(parseListen('[::1]:9000'), { host: '::1', port: 9000, loopback: true });
    assert.deepEqual(parseListen('9000'), { host: '127.0.0.1', port: 9000, loopback: true });
    assert.deepEqual(parseListen('lab-pc'), { host: 'lab-pc', port: 8070, loopback: false });
    assert.throws(
      () => parseListen('host:99999'),
      (e: unknown) => e instanceof ConfigError && /--listen/.test(String(e)),
    );
    assert.throws(() => parseListen('a:b:c'), ConfigError);
    for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1'])
      assert.ok(isLoopback(h), h);
    for (const h of ['0.0.0.0', '192.0.2.2', '::', 'fd00::2', 'localhost.evil.example'])
      assert.ok(!isLoopback(h), h);
  });

  it('on loopback: any request naming loopback, none naming another host (a rebound name)', () => {
    const listen = parseListen('127.0.0.1:8070');
    assert.equal(judge(get(), listen, undefined).ok, true);
    assert.equal(judge(get({ host: 'localhost:8070' }), listen, undefined).ok, true);
    const rebound = judge(get({ host: 'evil.example:8070' }), listen, undefined);
    assert.deepEqual([rebound.ok, rebound.status], [false, 403]);
    assert.match(rebound.why!, /not this machine's loopback/);
  });

  it('beyond loopback: the token on every request, from the cookie, a Bearer header or once in the address', () => {
    const listen = parseListen('0.0.0.0:8070');
    const host = '192.0.2.2:8070';
    for (const facts of [
      get({ host }),
      get({ host, authorization: 'Bearer wrong' }),
      get({ host, cookie: `${COOKIE}=wrong` }),
      get({ host, url: '/?token=wrong' }),
      get({ host, authorization: `Basic ${TOKEN}` }),
      get({ host, method: 'POST', url: '/api/runs', origin: `http://${host}` }),
    ]) {
      const v = judge(facts, listen, TOKEN);
      assert.deepEqual([v.ok, v.status], [false, 401], JSON.stringify(facts));
    }
    // No token configured: nothing gets in (never "no token needed").
    assert.equal(judge(get({ host, authorization: 'Bearer ' }), listen, undefined).ok, false);
    assert.equal(judge(get({ host, authorization: `Bearer ${TOKEN}` }), listen, TOKEN).ok, true);
    assert.equal(judge(get({ host, cookie: `x=1; ${COOKIE}=${TOKEN}` }), listen, TOKEN).ok, true);
    const first = judge(get({ host, url: `/history?serial=EMU&token=${TOKEN}` }), listen, TOKEN);
    assert.deepEqual(first, { ok: true, setCookieAndRedirect: '/history?serial=EMU' });
  });

  it('a state-changing request must come from the page of this very server (scheme, host and port)', () => {
    const loop = parseListen('127.0.0.1:8070');
    const post = (origin: string | undefined, site?: string) =>
      get({ method: 'POST', url: '/api/runs', origin, ...(site ? { secFetchSite: site } : {}) });
    assert.equal(judge(post('http://127.0.0.1:8070'), loop, undefined).ok, true);
    assert.equal(judge(post('http://127.0.0.1:8070', 'same-origin'), loop, undefined).ok, true);
    for (const [origin, site] of [
      [undefined],
      ['http://evil.example'],
      ['http://127.0.0.1:8071'],
      ['https://127.0.0.1:8070'],
      ['http://127.0.0.1:8070', 'cross-site'],
      ['http://127.0.0.1:8070', 'same-site'],
    ] as const) {
      const v = judge(post(origin, site), loop, undefined);
      assert.deepEqual([v.ok, v.status], [false, 403], `${origin} ${site}`);
    }
    // Over TLS the page's origin is https.
    assert.equal(judge(post('https://127.0.0.1:8070'), loop, undefined, true).ok, true);
    assert.equal(judge(post('http://127.0.0.1:8070'), loop, undefined, true).ok, false);
  });

  it('reads a cookie among others, and only that one', () => {
    assert.equal(cookieValue(`a=1; ${COOKIE}=x%20y; b=2`, COOKIE), 'x y');
    assert.equal(cookieValue(`not_${COOKIE}=1`, COOKIE), undefined);
    assert.equal(cookieValue(undefined, COOKIE), undefined);
  });
});

describe('serve: what a run request may ask', () => {
  it('takes suites, transports, shipped scenarios, presence, a test filter and a repeat count', () => {
    const full = {
      suites: ['u2f', 'perf'],
      transports: ['hid'],
      scenarios: ['mitid-login-usb.yaml'],
      presence: 'prompt',
      grep: 'U2F-REG',
      repeat: 3,
      device: 'emulator:wrong-flags',
    };
    assert.deepEqual(RunManager.check(full), full);
    assert.deepEqual(RunManager.check({}), { repeat: 1 });
  });

  it('refuses, naming the field: unknown suites, transports, scenario paths, bad patterns and counts', () => {
    for (const [req, why] of [
      [{ suites: ['u2f', 'nope'] }, /suites: no suite nope/],
      [{ transports: ['usb'] }, /transports: not a transport: usb/],
      [{ scenarios: ['/etc/passwd'] }, /scenarios: no shipped scenario \/etc\/passwd/],
      [{ scenarios: ['../fixtures/x.yaml'] }, /no shipped scenario/],
      [{ presence: 'maybe' }, /presence: actuator, prompt or auto/],
      [{ grep: '(' }, /grep: not a regular expression/],
      [{ repeat: 0 }, /repeat: a whole number from 1 to 100/],
      [{ repeat: 1.5 }, /repeat/],
      [{ device: 'hid:1\n--x' }, /device: not a valid value/],
      [{ suites: 'u2f' }, /suites: a list of names/],
    ] as const) {
      assert.throws(
        () => RunManager.check(req as never),
        (e: unknown) => e instanceof ConfigError && why.test((e as Error).message),
        JSON.stringify(req),
      );
    }
  });
});
