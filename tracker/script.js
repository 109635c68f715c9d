/*
 * The browser tracker of the analytics ingest service, served at GET /js/script.js.
 * This is the readable source; services/ingest/assets/script.js is generated from it
 * by tracker/build.sh, and tracker/check.sh fails when the two drift apart.
 *
 *   <script defer src="https://ingest.example.com/js/script.js" data-site="example.com"></script>
 *
 * Attributes (presence is enough for the flags, as with HTML boolean attributes):
 *   data-site             site id or domain (default: the page's host name)
 *   data-api              endpoint (default: the script's origin + /v1/events)
 *   data-hash             hash routing: the fragment is part of the page, and
 *                         hashchange is a navigation
 *   data-allow-localhost  count localhost, 127.x.x.x, ::1 and file: pages too
 *
 * Custom events: window.analytics('signup', {plan: 'pro'}). Calls made before the
 * script loads are queued by this stub and replayed:
 *   window.analytics = window.analytics || function () {
 *     (window.analytics.q = window.analytics.q || []).push(arguments) }
 * window.analytics('pageview', props?) sends a pageview of the current URL by hand.
 *
 * Every event is one POST of {"events": [event]} to /v1/events, whose fields are
 * checked with deny_unknown_fields: only site, type, name, url, title, referrer,
 * timing and props are ever sent, and empty ones are left out.
 *
 * Only APIs every current browser has (ES2017, URL, Blob, sendBeacon or fetch).
 */
(function (w, d) {
  'use strict';

  var loc = w.location;
  // Read while the script runs: currentScript is null in any later callback.
  var script = d.currentScript;
  function attr(name) {
    return script ? script.getAttribute(name) : null;
  }

  // A developer's own machine would otherwise count every reload of their work in
  // progress into the real site's numbers; the ingest would also reject file: URLs.
  if (
    attr('data-allow-localhost') == null &&
    (/^(localhost|127(\.\d+){3}|\[?::1\]?)$/.test(loc.hostname) || loc.protocol == 'file:')
  ) {
    // Still define the function, so a page calling it does not throw.
    w.analytics = function () {};
    return console.warn('analytics: not counting ' + loc.hostname + ' (see data-allow-localhost)');
  }

  var site = attr('data-site') || loc.hostname;
  var endpoint = attr('data-api') || new URL((script && script.src) || loc.href).origin + '/v1/events';
  var hashMode = attr('data-hash') != null;

  // Keep the page's queue stub (or put one in place) until start(): events asked
  // for while the page is prerendered are replayed once it is really shown.
  var stub =
    w.analytics ||
    (w.analytics = function () {
      (stub.q = stub.q || []).push(arguments);
    });
  // The same script included twice would count every pageview twice.
  if (stub.l) return;
  stub.l = 1;

  var started; // start() ran: the page is not (or no longer) being prerendered
  var firstSent; // the pageview of the document load went out
  var lastUrl; // the URL of the last pageview, so one page is never counted twice
  var pending; // an SPA pageview waiting for the new page's title
  var pendingTimer;
  // Sent while the visitor is still on the landing page. After an SPA navigation
  // it is left out, as a multi-page site's next page would have the site itself as
  // its referrer (which the aggregator drops): otherwise every SPA pageview would
  // count again for the search engine the visit came from.
  var referrer = d.referrer;

  // The fragment is dropped unless the site routes by it: it is not a page, and
  // it can carry secrets (OAuth implicit-flow tokens arrive as #access_token=...).
  function url() {
    return hashMode ? loc.href : loc.href.split('#')[0];
  }

  function send(event) {
    event.site = site;
    event.url = event.url || url();
    for (var key in event) if (event[key] == null || event[key] === '') delete event[key];
    var body = JSON.stringify({ events: [event] });
    // text/plain is a CORS-safelisted type: no preflight, and sendBeacon accepts it.
    // sendBeacon survives the page being closed; it returns false when the
    // browser's beacon quota is full, and fetch with keepalive is the same idea.
    try {
      if (navigator.sendBeacon(endpoint, new Blob([body], { type: 'text/plain' }))) return;
    } catch (e) {
      // no sendBeacon (or it threw): fall through to fetch
    }
    w.fetch &&
      fetch(endpoint, {
        method: 'POST',
        body: body,
        keepalive: true,
        headers: { 'Content-Type': 'text/plain' },
      }).catch(function () {});
  }

  function pageview(props, timing, pageUrl) {
    send({ type: 'pageview', url: pageUrl, title: d.title, referrer: referrer, timing: timing, props: props });
  }

  // The ingest takes flat string, number or boolean values, at most 30 keys, and
  // rejects the whole event otherwise: keep what it accepts rather than lose it.
  function cleanProps(props) {
    var out;
    var count = 0;
    if (props && typeof props == 'object')
      Object.keys(props).forEach(function (key) {
        if (count < 30 && /^(string|number|boolean)$/.test(typeof props[key])) {
          (out = out || {})[key] = props[key];
          count++;
        }
      });
    return out;
  }

  // Durations from the Navigation Timing entry, relative to the start of the
  // navigation. A prerendered page is measured from its activation (when the
  // visitor asked for it), not from when the browser began loading it ahead.
  function loadTiming() {
    var perf = w.performance;
    var entry = perf && perf.getEntriesByType && perf.getEntriesByType('navigation')[0];
    if (!entry) return;
    var since = entry.activationStart || 0;
    var timing = {};
    if (entry.responseStart > 0) timing.ttfb_ms = Math.round(Math.max(entry.responseStart - since, 0));
    if (entry.loadEventEnd > 0) timing.load_ms = Math.round(Math.max(entry.loadEventEnd - since, 0));
    return Object.keys(timing).length ? timing : undefined;
  }

  // The pageview of the document itself, sent once, with the load timing.
  function firstPageview() {
    if (firstSent) return;
    firstSent = 1;
    lastUrl = url();
    pageview(undefined, loadTiming());
  }

  // An SPA router changed the URL. Before the first pageview went out, the change
  // is folded into it (routers rewrite the URL while booting: / -> /en/).
  function navigated() {
    var now = url();
    if (!firstSent || now == lastUrl) return;
    lastUrl = now;
    referrer = '';
    flushPending();
    // Routers set document.title after changing the URL (in a render or an effect):
    // wait a moment, so the page is named by its own title and not the previous one.
    pending = function () {
      pageview(undefined, undefined, now);
    };
    clearTimeout(pendingTimer);
    pendingTimer = setTimeout(flushPending, 300);
  }

  function flushPending() {
    var run = pending;
    pending = 0;
    if (run) run();
  }

  function track(name, props) {
    if (!name) return;
    if (name == 'pageview') {
      flushPending();
      lastUrl = url();
      return pageview(cleanProps(props));
    }
    send({ type: 'event', name: '' + name, referrer: referrer, props: cleanProps(props) });
  }

  function start() {
    // A prerendered page may never be shown: count it only once the visitor sees it.
    // (visibilityState 'prerender' is the older form of document.prerendering.)
    if (started || d.prerendering || d.visibilityState == 'prerender') return;
    started = 1;

    w.analytics = track;
    track.l = 1;
    (stub.q || []).forEach(function (args) {
      track.apply(null, args);
    });

    ['pushState', 'replaceState'].forEach(function (method) {
      var original = w.history[method];
      w.history[method] = function () {
        var result = original.apply(this, arguments);
        navigated();
        return result;
      };
    });
    w.addEventListener('popstate', navigated);
    if (hashMode) w.addEventListener('hashchange', navigated);

    // loadEventEnd is set only once the load event's handlers have finished: read
    // it in a task after them. A script injected after the load finds it complete.
    if (d.readyState == 'complete') setTimeout(firstPageview, 0);
    else
      w.addEventListener('load', function () {
        setTimeout(firstPageview, 0);
      });

    // A visitor who leaves (or switches away) before the load finished is still a
    // pageview, sent with what timing there is. Hidden is the last moment a page is
    // sure to run code on mobile; pagehide covers browsers that skip it on unload.
    function leaving(event) {
      if (event.type == 'pagehide' || d.visibilityState == 'hidden') {
        firstPageview();
        flushPending();
      }
    }
    d.addEventListener('visibilitychange', leaving);
    w.addEventListener('pagehide', leaving);
    // Back/forward from the browser's page cache resumes this document without
    // running the script again: count it as the reloaded page it would otherwise
    // be (no timing, and the site itself as referrer, i.e. none).
    w.addEventListener('pageshow', function (event) {
      if (event.persisted) {
        lastUrl = url();
        referrer = '';
        pageview();
      }
    });
  }

  start();
  d.addEventListener('prerenderingchange', start);
  d.addEventListener('visibilitychange', start);
})(window, document);
