// Behaviour of the browser tracker, run against both the readable source
// (tracker/script.js) and the minified file the ingest serves
// (services/ingest/assets/script.js), in a small hand-made browser: window,
// document, location, history, navigator, performance and timers, with a clock
// the tests move forward. Every assertion is on the exact request bodies.
//
//   node --test tracker/test/tracker.test.js
'use strict';

const { describe, test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');

const BUILDS = {
  source: path.join(__dirname, '..', 'script.js'),
  minified: path.join(__dirname, '..', '..', 'services', 'ingest', 'assets', 'script.js'),
};

const SCRIPT_SRC = 'https://ingest.example.net/js/script.js';
const ENDPOINT = 'https://ingest.example.net/v1/events';
const GOOGLE = 'https://www.google.com/';

// The queue stub a site puts before the script tag, as documented.
const STUB =
  'window.analytics = window.analytics || function () {' +
  ' (window.analytics.q = window.analytics.q || []).push(arguments) }';

class EventTarget {
  constructor() {
    this.listeners = {};
  }
  addEventListener(type, listener) {
    (this.listeners[type] = this.listeners[type] || []).push(listener);
  }
  removeEventListener(type, listener) {
    this.listeners[type] = (this.listeners[type] || []).filter((l) => l !== listener);
  }
  // As in the DOM, listeners added while an event is dispatched do not see it.
  dispatch(type, fields = {}) {
    const event = { type, ...fields };
    for (const listener of [...(this.listeners[type] || [])]) listener.call(this, event);
  }
}

// Records what the tracker hands to sendBeacon, the way a real Blob holds it.
class FakeBlob {
  constructor(parts, options) {
    this.parts = parts;
    this.type = (options && options.type) || '';
  }
}

/**
 * A page in the fake browser. Options:
 *   href, title, referrer, readyState ('loading' | 'interactive' | 'complete'),
 *   visibilityState, prerendering, attrs (script tag attributes), src,
 *   noCurrentScript, nav (Navigation Timing entry fields, or null for no API),
 *   beacon ('ok' | 'refuse' | 'throw' | 'absent'), fetch (false: no fetch).
 */
function makePage(options = {}) {
  const o = {
    href: 'https://example.com/a?x=1#top',
    title: 'Page A',
    referrer: GOOGLE,
    readyState: 'loading',
    visibilityState: 'visible',
    attrs: { 'data-site': 'example.com' },
    src: SCRIPT_SRC,
    nav: { responseStart: 123.4, loadEventStart: 0, loadEventEnd: 0, activationStart: 0 },
    beacon: 'ok',
    ...options,
  };
  const requests = [];
  const warnings = [];

  // Timers on a clock that only the test moves.
  let now = 0;
  let seq = 0;
  let timers = [];
  const setTimeout = (fn, ms) => {
    timers.push({ id: ++seq, at: now + (ms || 0), fn });
    return seq;
  };
  const clearTimeout = (id) => {
    timers = timers.filter((t) => t.id !== id);
  };
  function advance(ms) {
    const until = now + ms;
    for (;;) {
      timers.sort((a, b) => a.at - b.at || a.id - b.id);
      const next = timers[0];
      if (!next || next.at > until) break;
      timers.shift();
      now = next.at;
      next.fn();
    }
    now = until;
  }

  let current = new URL(o.href);
  const location = {
    get href() {
      return current.href;
    },
    get hostname() {
      return current.hostname;
    },
    get protocol() {
      return current.protocol;
    },
    get pathname() {
      return current.pathname;
    },
    get hash() {
      return current.hash;
    },
  };
  const history = {
    state: null,
    pushState(state, _title, url) {
      if (url != null) current = new URL(url, current);
      this.state = state;
    },
    replaceState(state, _title, url) {
      if (url != null) current = new URL(url, current);
      this.state = state;
    },
  };

  const document = new EventTarget();
  Object.assign(document, {
    title: o.title,
    referrer: o.referrer,
    readyState: o.readyState,
    visibilityState: o.visibilityState,
    currentScript: o.noCurrentScript
      ? null
      : {
          src: o.src,
          getAttribute: (name) => (Object.prototype.hasOwnProperty.call(o.attrs, name) ? o.attrs[name] : null),
        },
  });
  if (o.prerendering) document.prerendering = true;

  const entry = o.nav && { ...o.nav };
  const performance = { getEntriesByType: (type) => (type === 'navigation' && entry ? [entry] : []) };

  const navigator = {};
  if (o.beacon !== 'absent') {
    navigator.sendBeacon = (url, data) => {
      if (o.beacon === 'throw') throw new TypeError('Illegal invocation');
      requests.push({ via: 'beacon', url, contentType: data.type, body: JSON.parse(data.parts.join('')) });
      return o.beacon === 'ok';
    };
  }
  const fetch = (url, init) => {
    const { body, ...rest } = init;
    // init comes from the page's realm: compare it as plain data.
    requests.push({ via: 'fetch', url, init: JSON.parse(JSON.stringify(rest)), body: JSON.parse(body) });
    return Promise.resolve({ status: 202 });
  };

  const window = new EventTarget();
  Object.assign(window, {
    document,
    location,
    history,
    navigator,
    performance,
    setTimeout,
    clearTimeout,
    Blob: FakeBlob,
    URL,
    console: { warn: (...args) => warnings.push(args.join(' ')), log() {}, error() {} },
  });
  if (o.fetch !== false) window.fetch = fetch;
  window.window = window;
  vm.createContext(window);

  return {
    window,
    document,
    entry,
    requests,
    warnings,
    advance,
    run(code, filename) {
      vm.runInContext(code, window, { filename });
    },
    // What a browser does at the end of loading: readyState, then the load
    // event, and loadEventEnd only once every load handler has returned.
    finishLoad(loadEventEnd = 812.6) {
      document.readyState = 'complete';
      if (entry) entry.loadEventStart = loadEventEnd - 0.5;
      window.dispatch('load');
      if (entry) entry.loadEventEnd = loadEventEnd;
    },
    // The visitor presses back or forward: the URL changes, then popstate.
    traverse(url) {
      current = new URL(url, current);
      window.dispatch('popstate', { state: null });
    },
    // The visitor follows a link to a fragment: popstate, then hashchange.
    followFragment(hash) {
      const oldURL = current.href;
      current = new URL(hash, current);
      window.dispatch('popstate', { state: null });
      window.dispatch('hashchange', { oldURL, newURL: current.href });
    },
    // Fragment navigation in a browser that fires only hashchange (older ones,
    // and some routers that dispatch it themselves).
    hashchangeOnly(hash) {
      const oldURL = current.href;
      current = new URL(hash, current);
      window.dispatch('hashchange', { oldURL, newURL: current.href });
    },
    setVisibility(state) {
      document.visibilityState = state;
      document.dispatch('visibilitychange');
    },
    bodies() {
      return requests.map((r) => r.body);
    },
  };
}

// One request body holding one event, as the tracker sends them.
const one = (event) => ({ events: [event] });

function firstPageview(fields = {}) {
  return one({
    site: 'example.com',
    type: 'pageview',
    url: 'https://example.com/a?x=1',
    title: 'Page A',
    referrer: GOOGLE,
    timing: { ttfb_ms: 123, load_ms: 813 },
    ...fields,
  });
}

for (const [build, file] of Object.entries(BUILDS)) {
  const code = fs.readFileSync(file, 'utf8');

  // A loaded page with its first pageview already checked and cleared.
  function loadedPage(options) {
    const page = makePage(options);
    page.run(code, file);
    page.finishLoad();
    page.advance(0);
    assert.equal(page.requests.length, 1, 'the first pageview');
    page.requests.length = 0;
    return page;
  }

  describe(`tracker (${build})`, () => {
    describe('first pageview', () => {
      test('is sent once the load finished, with the load timing, as a text/plain beacon', () => {
        const page = makePage();
        page.run(code, file);
        page.advance(1000);
        assert.deepEqual(page.requests, [], 'nothing before the load');
        page.finishLoad();
        assert.deepEqual(page.requests, [], 'not inside the load handler: loadEventEnd is still 0 there');
        page.advance(0);
        assert.deepEqual(page.requests, [
          { via: 'beacon', url: ENDPOINT, contentType: 'text/plain', body: firstPageview() },
        ]);
        page.advance(10000);
        assert.equal(page.requests.length, 1, 'and only once');
      });

      test('a script that arrives after the load still sends it with timing', () => {
        const page = makePage({
          readyState: 'complete',
          nav: { responseStart: 40.2, loadEventStart: 300, loadEventEnd: 301.5 },
        });
        page.run(code, file);
        assert.deepEqual(page.requests, []);
        page.advance(0);
        assert.deepEqual(page.bodies(), [firstPageview({ timing: { ttfb_ms: 40, load_ms: 302 } })]);
      });

      test('has no timing where the Navigation Timing API is missing', () => {
        const page = makePage({ nav: null });
        page.run(code, file);
        page.finishLoad();
        page.advance(0);
        assert.deepEqual(page.bodies(), [firstPageview({ timing: undefined })].map(strip));
      });

      test('leaves out empty title and referrer, and strips the fragment', () => {
        const page = makePage({ title: '', referrer: '', href: 'https://example.com/#access_token=secret' });
        page.run(code, file);
        page.finishLoad();
        page.advance(0);
        assert.deepEqual(page.bodies(), [
          one({
            site: 'example.com',
            type: 'pageview',
            url: 'https://example.com/',
            timing: { ttfb_ms: 123, load_ms: 813 },
          }),
        ]);
      });

      test('a visitor leaving before the load is counted, with the timing there is', () => {
        const page = makePage({ readyState: 'interactive' });
        page.run(code, file);
        page.setVisibility('hidden');
        assert.deepEqual(page.bodies(), [firstPageview({ timing: { ttfb_ms: 123 } })]);
        page.setVisibility('visible');
        page.finishLoad();
        page.advance(0);
        page.setVisibility('hidden');
        assert.equal(page.requests.length, 1, 'never a second first pageview');
      });

      test('pagehide before the load sends it too', () => {
        const page = makePage();
        page.run(code, file);
        page.window.dispatch('pagehide', { persisted: false });
        assert.deepEqual(page.bodies(), [firstPageview({ timing: { ttfb_ms: 123 } })]);
      });

      test('a URL rewritten by the router before the load is part of the first pageview', () => {
        const page = makePage();
        page.run(code, file);
        page.window.history.replaceState(null, '', '/en/');
        page.finishLoad();
        page.advance(1000);
        assert.deepEqual(page.bodies(), [firstPageview({ url: 'https://example.com/en/' })]);
      });
    });

    describe('SPA navigation', () => {
      test('pushState to a new path is one pageview of that URL, named by the new title, without timing', () => {
        const page = loadedPage();
        page.window.history.pushState({}, '', '/b?y=2');
        page.document.title = 'Page B'; // routers rename the page after the URL change
        page.advance(299);
        assert.deepEqual(page.requests, [], 'waits for the title');
        page.advance(1);
        assert.deepEqual(page.requests, [
          {
            via: 'beacon',
            url: ENDPOINT,
            contentType: 'text/plain',
            body: one({ site: 'example.com', type: 'pageview', url: 'https://example.com/b?y=2', title: 'Page B' }),
          },
        ]);
        page.advance(10000);
        assert.equal(page.requests.length, 1);
      });

      test('pushState to the same path and query is not a pageview', () => {
        const page = loadedPage();
        page.window.history.pushState({ n: 1 }, '', '/a?x=1');
        page.window.history.pushState({ n: 2 }, '', '/a?x=1#section'); // fragment only, not hash mode
        page.window.history.pushState({ n: 3 }, ''); // state only
        page.window.history.replaceState({ n: 4 }, '');
        page.advance(10000);
        assert.deepEqual(page.requests, []);
      });

      test('a different query string is a new page', () => {
        const page = loadedPage();
        page.window.history.pushState({}, '', '/a?x=2');
        page.advance(300);
        assert.deepEqual(page.bodies(), [
          one({ site: 'example.com', type: 'pageview', url: 'https://example.com/a?x=2', title: 'Page A' }),
        ]);
      });

      test('replaceState with a new path is a pageview', () => {
        const page = loadedPage();
        page.window.history.replaceState(null, '', '/c');
        page.advance(300);
        assert.deepEqual(page.bodies(), [
          one({ site: 'example.com', type: 'pageview', url: 'https://example.com/c', title: 'Page A' }),
        ]);
      });

      test('pushState keeps returning what the original returns', () => {
        const page = makePage();
        page.window.history.pushState = () => 'original result';
        page.run(code, file);
        assert.equal(page.window.history.pushState(null, '', '/x'), 'original result');
      });

      test('back and forward (popstate) are pageviews', () => {
        const page = loadedPage();
        page.window.history.pushState({}, '', '/b');
        page.advance(300);
        page.traverse('/a?x=1');
        page.advance(300);
        page.traverse('/b');
        page.advance(300);
        const view = (p) => one({ site: 'example.com', type: 'pageview', url: `https://example.com${p}`, title: 'Page A' });
        assert.deepEqual(page.bodies(), [view('/b'), view('/a?x=1'), view('/b')]);
      });

      test('a following fragment is not a pageview outside hash mode', () => {
        const page = loadedPage();
        page.followFragment('#details');
        page.advance(10000);
        assert.deepEqual(page.requests, []);
      });

      test('a quick second navigation sends the waiting pageview at once', () => {
        const page = loadedPage();
        page.window.history.pushState({}, '', '/b');
        page.advance(100);
        page.window.history.pushState({}, '', '/c');
        assert.deepEqual(page.bodies().map((b) => b.events[0].url), ['https://example.com/b']);
        page.advance(299);
        assert.equal(page.requests.length, 1, 'the timer restarted for /c');
        page.advance(1);
        page.advance(10000);
        assert.deepEqual(page.bodies().map((b) => b.events[0].url), ['https://example.com/b', 'https://example.com/c']);
      });

      test('leaving the page sends a waiting pageview', () => {
        const page = loadedPage();
        page.window.history.pushState({}, '', '/b');
        page.window.dispatch('pagehide', { persisted: false });
        assert.deepEqual(page.bodies(), [
          one({ site: 'example.com', type: 'pageview', url: 'https://example.com/b', title: 'Page A' }),
        ]);
        page.advance(10000);
        assert.equal(page.requests.length, 1);
      });

      test('a page restored from the back/forward cache is a pageview without timing', () => {
        const page = loadedPage();
        page.window.dispatch('pagehide', { persisted: true });
        page.window.dispatch('pageshow', { persisted: false });
        assert.deepEqual(page.requests, [], 'an ordinary pageshow is the load itself');
        page.window.dispatch('pageshow', { persisted: true });
        assert.deepEqual(page.bodies(), [
          one({ site: 'example.com', type: 'pageview', url: 'https://example.com/a?x=1', title: 'Page A' }),
        ]);
      });
    });

    describe('hash mode', () => {
      const attrs = { 'data-site': 'example.com', 'data-hash': '' };

      test('the fragment is part of the URL and a hashchange is one pageview', () => {
        const page = makePage({ attrs, href: 'https://example.com/#/home' });
        page.run(code, file);
        page.finishLoad();
        page.advance(0);
        page.followFragment('#/settings'); // popstate and hashchange: counted once
        page.advance(300);
        page.window.history.pushState(null, '', '#/profile');
        page.advance(300);
        page.window.history.pushState(null, '', '#/profile');
        page.advance(10000);
        assert.deepEqual(page.bodies(), [
          firstPageview({ url: 'https://example.com/#/home' }),
          one({ site: 'example.com', type: 'pageview', url: 'https://example.com/#/settings', title: 'Page A' }),
          one({ site: 'example.com', type: 'pageview', url: 'https://example.com/#/profile', title: 'Page A' }),
        ]);
      });

      test('hashchange without popstate is a pageview too', () => {
        const page = loadedPage({ attrs, href: 'https://example.com/#/home' });
        page.hashchangeOnly('#/settings');
        page.advance(300);
        assert.deepEqual(page.bodies(), [
          one({ site: 'example.com', type: 'pageview', url: 'https://example.com/#/settings', title: 'Page A' }),
        ]);
      });

      test('without data-hash, a new fragment is the same page', () => {
        const page = loadedPage({ href: 'https://example.com/#/home' });
        page.followFragment('#/settings');
        page.window.history.pushState(null, '', '#/profile');
        page.hashchangeOnly('#/other');
        page.advance(10000);
        assert.deepEqual(page.requests, []);
      });
    });

    describe('custom events', () => {
      test('window.analytics(name, props) sends the event with its props', () => {
        const page = loadedPage();
        page.window.analytics('signup', { plan: 'pro', seats: 3, annual: true });
        assert.deepEqual(page.bodies(), [
          one({
            site: 'example.com',
            type: 'event',
            name: 'signup',
            url: 'https://example.com/a?x=1',
            referrer: GOOGLE,
            props: { plan: 'pro', seats: 3, annual: true },
          }),
        ]);
      });

      test('without props, and after an SPA navigation (no referrer then)', () => {
        const page = loadedPage();
        page.window.history.pushState(null, '', '/b');
        page.advance(300);
        page.requests.length = 0;
        page.window.analytics('download');
        assert.deepEqual(page.bodies(), [
          one({ site: 'example.com', type: 'event', name: 'download', url: 'https://example.com/b' }),
        ]);
      });

      test('props the ingest would reject are dropped, at most 30 kept', () => {
        const page = loadedPage({ referrer: '' });
        const props = { ok: 'yes', nested: { a: 1 }, list: [1], fn() {}, nothing: null, undef: undefined };
        for (let i = 0; i < 40; i++) props[`k${i}`] = i;
        page.window.analytics('many', props);
        const expected = { ok: 'yes' };
        for (let i = 0; i < 29; i++) expected[`k${i}`] = i;
        assert.deepEqual(page.bodies(), [
          one({ site: 'example.com', type: 'event', name: 'many', url: 'https://example.com/a?x=1', props: expected }),
        ]);
      });

      test('an empty name sends nothing', () => {
        const page = loadedPage();
        page.window.analytics('');
        page.window.analytics();
        assert.deepEqual(page.requests, []);
      });

      test("analytics('pageview') sends a pageview by hand", () => {
        const page = loadedPage();
        page.window.analytics('pageview', { variant: 'b' });
        assert.deepEqual(page.bodies(), [
          one({
            site: 'example.com',
            type: 'pageview',
            url: 'https://example.com/a?x=1',
            title: 'Page A',
            referrer: GOOGLE,
            props: { variant: 'b' },
          }),
        ]);
      });
    });

    describe('queue stub', () => {
      test('calls made before the script loaded are replayed in order', () => {
        const page = makePage();
        page.run(STUB, 'stub.js');
        page.window.analytics('signup', { plan: 'pro' });
        page.window.analytics('cta');
        page.run(code, file);
        const event = (name, props) => one({ site: 'example.com', type: 'event', name, url: 'https://example.com/a?x=1', referrer: GOOGLE, props });
        assert.deepEqual(page.bodies(), [event('signup', { plan: 'pro' }), event('cta')].map(strip));
        page.window.analytics('later');
        page.finishLoad();
        page.advance(0);
        assert.deepEqual(page.bodies().slice(2), [event('later'), firstPageview()].map(strip));
      });

      test('a second copy of the script counts nothing twice', () => {
        const page = makePage();
        page.run(code, file);
        page.run(code, file);
        page.finishLoad();
        page.advance(0);
        page.window.history.pushState(null, '', '/b');
        page.advance(300);
        assert.equal(page.requests.length, 2);
      });
    });

    describe('configuration', () => {
      test('data-api and the default site (the page host)', () => {
        const page = makePage({ attrs: { 'data-api': 'https://collect.example.org/v1/events' } });
        page.run(code, file);
        page.finishLoad();
        page.advance(0);
        assert.equal(page.requests[0].url, 'https://collect.example.org/v1/events');
        assert.deepEqual(page.requests[0].body, firstPageview({ site: 'example.com' }));
        const other = makePage({ attrs: {}, href: 'https://shop.example.com/' });
        other.run(code, file);
        other.window.analytics('x');
        assert.equal(other.requests[0].body.events[0].site, 'shop.example.com');
      });

      test('the endpoint follows the origin of the script, not the page', () => {
        const page = makePage({ src: 'http://10.0.0.5:8081/js/script.js?v=3' });
        page.run(code, file);
        page.window.analytics('x');
        assert.equal(page.requests[0].url, 'http://10.0.0.5:8081/v1/events');
      });

      test('fetch with keepalive when sendBeacon is missing, refuses or throws', () => {
        for (const beacon of ['absent', 'refuse', 'throw']) {
          const page = makePage({ beacon });
          page.run(code, file);
          page.finishLoad();
          page.advance(0);
          const fetched = page.requests.filter((r) => r.via === 'fetch');
          assert.deepEqual(
            fetched,
            [
              {
                via: 'fetch',
                url: ENDPOINT,
                init: { method: 'POST', keepalive: true, headers: { 'Content-Type': 'text/plain' } },
                body: firstPageview(),
              },
            ],
            beacon,
          );
        }
      });

      test('neither sendBeacon nor fetch: nothing sent, nothing thrown', () => {
        const page = makePage({ beacon: 'absent', fetch: false });
        page.run(code, file);
        page.finishLoad();
        page.advance(0);
        page.window.analytics('x');
        assert.deepEqual(page.requests, []);
      });
    });

    describe('localhost', () => {
      for (const href of [
        'http://localhost:3000/',
        'http://127.0.0.1:8000/a',
        'http://[::1]:8080/',
        'file:///home/me/site/index.html',
      ]) {
        test(`${href} is not counted`, () => {
          const page = makePage({ href });
          page.run(STUB, 'stub.js');
          page.window.analytics('queued');
          page.run(code, file);
          page.finishLoad();
          page.advance(0);
          page.window.history.pushState(null, '', '/other');
          page.advance(1000);
          page.window.analytics('signup', { plan: 'pro' }); // must not throw
          assert.deepEqual(page.requests, []);
          assert.equal(page.warnings.length, 1);
        });
      }

      test('window.analytics still exists there, without a stub', () => {
        const page = makePage({ href: 'http://localhost:3000/' });
        page.run(code, file);
        assert.equal(typeof page.window.analytics, 'function');
        page.window.analytics('signup');
        assert.deepEqual(page.requests, []);
      });

      test('is counted with data-allow-localhost', () => {
        const page = makePage({
          href: 'http://localhost:3000/',
          attrs: { 'data-site': 'example.com', 'data-allow-localhost': '' },
        });
        page.run(code, file);
        page.finishLoad();
        page.advance(0);
        assert.deepEqual(page.bodies(), [firstPageview({ url: 'http://localhost:3000/' })]);
        assert.deepEqual(page.warnings, []);
      });

      test('a host that merely starts with localhost is counted', () => {
        const page = makePage({ href: 'https://localhost.example.com/' });
        page.run(code, file);
        page.window.analytics('x');
        assert.equal(page.requests.length, 1);
      });
    });

    describe('prerendering', () => {
      test("visibilityState 'prerender': nothing until the page is shown", () => {
        const page = makePage({ visibilityState: 'prerender' });
        page.run(code, file);
        page.window.analytics('during-prerender');
        page.finishLoad();
        page.advance(10000);
        assert.deepEqual(page.requests, []);
        page.setVisibility('visible');
        page.advance(0);
        assert.deepEqual(page.bodies(), [
          one({ site: 'example.com', type: 'event', name: 'during-prerender', url: 'https://example.com/a?x=1', referrer: GOOGLE }),
          firstPageview(),
        ]);
      });

      test('document.prerendering: timing counted from the activation', () => {
        const page = makePage({
          prerendering: true,
          nav: { responseStart: 123.4, loadEventStart: 0, loadEventEnd: 0, activationStart: 500 },
        });
        page.run(code, file);
        page.finishLoad(812.6);
        page.advance(10000);
        assert.deepEqual(page.requests, []);
        page.document.prerendering = false;
        page.document.dispatch('prerenderingchange');
        page.advance(0);
        assert.deepEqual(page.bodies(), [firstPageview({ timing: { ttfb_ms: 0, load_ms: 313 } })]);
      });
    });
  });
}

// JSON has no undefined: drop undefined fields from an expected body.
function strip(body) {
  return JSON.parse(JSON.stringify(body));
}
