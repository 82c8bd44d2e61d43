/* observer real-user snippet: web vitals (Google's web-vitals library), errors and task
 * milestones, batched and sent with sendBeacon when the page is hidden. No cookies: the
 * session id lives in sessionStorage, one per tab. Configured by the server that serves it
 * (window.__observerRumConfig, prepended to this file) and by data-* attributes of the tag:
 *   <script src="https://observer.example.com/rum.js" data-app="shop" defer></script>
 */
(function () {
  'use strict';
  if (window.observer && window.observer.__rum) return;
  var script = document.currentScript;
  var cfg = window.__observerRumConfig || {};
  var data = (script && script.dataset) || {};
  var endpoint;
  try {
    endpoint = new URL(data.endpoint || cfg.path || '/beacon', (script && script.src) || location.href).href;
  } catch (e) { return; }
  var app = data.app || cfg.app || null;
  var rate = data.sampleRate !== undefined ? parseFloat(data.sampleRate) : (cfg.sampleRate === undefined ? 1 : cfg.sampleRate);

  function rand() {
    if (window.crypto && crypto.getRandomValues) {
      var a = new Uint32Array(4); crypto.getRandomValues(a);
      return Array.prototype.map.call(a, function (x) { return x.toString(36); }).join('');
    }
    return Math.random().toString(36).slice(2) + Date.now().toString(36);
  }
  var sid = null, sampled = true;
  try {
    sid = sessionStorage.getItem('observer.sid');
    var s = sessionStorage.getItem('observer.sampled');
    if (!sid) { sid = rand(); sessionStorage.setItem('observer.sid', sid); }
    if (s === null) { sampled = Math.random() < rate; sessionStorage.setItem('observer.sampled', sampled ? '1' : '0'); }
    else { sampled = s === '1'; }
  } catch (e) { sid = sid || rand(); sampled = Math.random() < rate; }

  var load = rand();
  var seq = 0;
  // Read once, as the page loads: the server keeps only browser family and device class.
  var ua = navigator.userAgent;
  var queue = [];
  // Set by observer's own journeys, so their beacons are kept apart from real users.
  var synthetic = !!window.__observerSynthetic;
  var api = {
    __rum: true,
    begin: function (task) { push({k: 'task', phase: 'begin', task: String(task)}); },
    complete: function (task) { push({k: 'task', phase: 'complete', task: String(task)}); flush(); },
    flush: flush,
    sessionId: function () { return sid; }
  };
  window.observer = api;
  if (!sampled) { api.begin = api.complete = function () {}; return; }

  function push(item) {
    item.id = item.id || (load + '.' + (++seq));
    item.u = item.u || location.href;
    queue.push(item);
    if (queue.length >= 40) flush();
  }
  function flush() {
    if (!queue.length) return;
    var body = JSON.stringify({observer: 1, app: app, sid: sid, load: load, syn: synthetic, page: location.href, ua: ua, items: queue.splice(0, queue.length)});
    var sent = false;
    try { sent = navigator.sendBeacon && navigator.sendBeacon(endpoint, body); } catch (e) { sent = false; }
    if (!sent) {
      try { fetch(endpoint, {method: 'POST', body: body, keepalive: true, credentials: 'omit', headers: {'Content-Type': 'text/plain'}}); } catch (e) { /* nothing else to try */ }
    }
  }
  function pick(obj, keys) {
    if (!obj) return undefined;
    var out = {}, any = false;
    keys.forEach(function (k) {
      var v = obj[k];
      if (typeof v === 'string' || typeof v === 'number') { out[k] = typeof v === 'string' ? v.slice(0, 300) : v; any = true; }
    });
    return any ? out : undefined;
  }
  var ATTR = ['target', 'url', 'timeToFirstByte', 'resourceLoadDelay', 'resourceLoadDuration',
    'elementRenderDelay', 'interactionTarget', 'interactionType', 'inputDelay',
    'processingDuration', 'presentationDelay', 'largestShiftTarget', 'largestShiftValue',
    'loadState', 'waitingDuration', 'dnsDuration', 'connectionDuration', 'requestDuration'];
  function vital(m) {
    // One item per metric id: a later report of the same id replaces the earlier value.
    for (var i = 0; i < queue.length; i++) {
      if (queue[i].k === 'vital' && queue[i].id === m.id) { queue.splice(i, 1); break; }
    }
    push({k: 'vital', n: m.name, v: m.value, r: m.rating, nav: m.navigationType, id: m.id,
          u: m.navigationURL || location.href, a: pick(m.attribution, ATTR)});
  }
  push({k: 'pageview', nav: (performance.getEntriesByType && (performance.getEntriesByType('navigation')[0] || {}).type) || undefined});
  try {
    webVitals.onLCP(vital); webVitals.onINP(vital); webVitals.onCLS(vital);
    webVitals.onFCP(vital); webVitals.onTTFB(vital);
  } catch (e) { /* an old browser: errors and tasks still work */ }
  addEventListener('error', function (e) {
    if (!e || !e.message) return;  // resource load errors have no message
    push({k: 'error', type: (e.error && e.error.name) || 'Error', msg: String(e.message).slice(0, 300), src: e.filename ? String(e.filename).slice(0, 300) : undefined});
  });
  addEventListener('unhandledrejection', function (e) {
    var r = e && e.reason;
    push({k: 'error', type: 'UnhandledRejection', msg: String((r && r.message) || r).slice(0, 300)});
  });
  addEventListener('visibilitychange', function () { if (document.visibilityState === 'hidden') flush(); });
  addEventListener('pagehide', flush);
})();
