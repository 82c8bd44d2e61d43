/* observer real-user snippet: web vitals (Google's web-vitals library), errors, task
 * milestones, customers' feedback and frustration signals (rage, dead and error clicks),
 * batched and sent with sendBeacon when the page is hidden. No cookies: the session id lives
 * in sessionStorage, one per tab; observer.consent(false) stops all sending from the tab. Configured by the server that serves it
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
  // The customer's choice, kept for the tab: false sends nothing more, and drops what waits.
  var allowed = true;
  try { allowed = sessionStorage.getItem('observer.consent') !== '0'; } catch (e) { allowed = true; }
  var api = {
    __rum: true,
    begin: function (task) { push({k: 'task', phase: 'begin', task: String(task)}); },
    complete: function (task) {
      push({k: 'task', phase: 'complete', task: String(task)}); flush(); maybeSurvey(String(task));
    },
    // observer.feedback({task: 'checkout', csat: 4}) or {ces: 6} or {nps: 9}, with a comment.
    feedback: function (f) {
      if (!f || typeof f !== 'object') return;
      push({k: 'feedback', task: f.task === undefined ? undefined : String(f.task).slice(0, 100),
            csat: f.csat, ces: f.ces, nps: f.nps,
            comment: typeof f.comment === 'string' ? f.comment.slice(0, 500) : undefined});
      flush();
    },
    consent: function (yes) {
      allowed = yes !== false;
      try { sessionStorage.setItem('observer.consent', allowed ? '1' : '0'); } catch (e) { /* kept for the page only */ }
      if (!allowed) queue.length = 0;
    },
    flush: flush,
    sessionId: function () { return sid; }
  };
  window.observer = api;
  // The optional one-question survey (rum.survey): asked once a session completes its task,
  // of at most `sample` of sessions, never twice in a session, never with consent withdrawn
  // or (unless configured otherwise) to a browser that sends Global Privacy Control.
  function maybeSurvey(task) {
    var sv = cfg.survey;
    if (!sv || task !== sv.after || !allowed || !sampled) return;
    if (sv.gpc && navigator.globalPrivacyControl) return;
    try {
      if (sessionStorage.getItem('observer.survey')) return;  // decided for this session
      var ask = Math.random() < sv.sample;
      sessionStorage.setItem('observer.survey', ask ? 'asked' : 'skipped');
      if (!ask) return;
    } catch (e) { return; }  // without sessionStorage it might ask twice: it asks never
    if (document.body) showSurvey(sv);
    else addEventListener('DOMContentLoaded', function () { showSurvey(sv); });
  }
  function showSurvey(sv) {
    var scales = {csat: [1, 5, 'very dissatisfied', 'very satisfied'],
                  ces: [1, 7, 'very difficult', 'very easy'],
                  nps: [0, 10, 'not at all likely', 'extremely likely']};
    var sc = scales[sv.ask] || scales.csat;
    var before = document.activeElement;
    // Fixed in a corner, over the page: nothing on the page moves (no layout shift).
    var box = document.createElement('div');
    box.id = 'observer-survey';
    box.setAttribute('role', 'dialog');
    box.setAttribute('aria-labelledby', 'observer-survey-q');
    box.style.cssText = 'position:fixed;right:16px;bottom:16px;z-index:2147483647;max-width:380px;' +
      'background:#fff;color:#111;border:1px solid #767676;border-radius:8px;padding:12px 14px;' +
      'font:14px/1.4 system-ui,sans-serif;box-shadow:0 4px 16px rgba(0,0,0,.2)';
    var q = document.createElement('p');
    q.id = 'observer-survey-q';
    q.textContent = sv.question;
    q.style.cssText = 'margin:0 28px 8px 0;font-weight:600';
    box.appendChild(q);
    var group = document.createElement('div');
    group.setAttribute('role', 'group');
    group.setAttribute('aria-labelledby', 'observer-survey-q');
    for (var v = sc[0]; v <= sc[1]; v++) {
      var b = document.createElement('button');
      b.type = 'button';
      b.textContent = String(v);
      b.setAttribute('data-value', String(v));
      b.setAttribute('aria-label', v + (v === sc[0] ? ', ' + sc[2] : v === sc[1] ? ', ' + sc[3] : ''));
      b.style.cssText = 'min-width:32px;min-height:32px;margin:2px;cursor:pointer';
      group.appendChild(b);
    }
    box.appendChild(group);
    var ends = document.createElement('p');
    ends.textContent = sc[0] + ': ' + sc[2] + ', ' + sc[1] + ': ' + sc[3];
    ends.style.cssText = 'margin:6px 0 0;font-size:12px;color:#444';
    box.appendChild(ends);
    var close = document.createElement('button');
    close.type = 'button';
    close.textContent = '\u00d7';
    close.setAttribute('aria-label', 'Dismiss');
    close.style.cssText = 'position:absolute;top:6px;right:8px;border:0;background:none;font-size:18px;cursor:pointer';
    box.appendChild(close);
    function done() {
      if (box.parentNode) box.parentNode.removeChild(box);
      if (before && before.focus) { try { before.focus(); } catch (e) { /* gone */ } }
    }
    group.addEventListener('click', function (e) {
      var value = e.target && e.target.getAttribute && e.target.getAttribute('data-value');
      if (value === null || value === undefined) return;
      var answer = {task: sv.after};
      answer[sv.ask] = parseInt(value, 10);
      api.feedback(answer);
      box.textContent = '';
      var thanks = document.createElement('p');
      thanks.setAttribute('role', 'status');
      thanks.textContent = 'Thank you.';
      thanks.style.margin = '0';
      box.appendChild(thanks);
      setTimeout(done, 1500);
    });
    close.addEventListener('click', done);
    box.addEventListener('keydown', function (e) { if (e.key === 'Escape') done(); });
    document.body.appendChild(box);
    group.firstChild.focus();
  }
  if (!sampled) { api.begin = api.complete = api.feedback = function () {}; return; }

  function push(item) {
    if (!allowed) return;
    item.id = item.id || (load + '.' + (++seq));
    item.u = item.u || location.href;
    queue.push(item);
    if (queue.length >= 40) flush();
  }
  function flush() {
    if (!allowed) { queue.length = 0; return; }
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
  var routed = false;  // a single-page app changed routes
  // Where the browser reports soft navigations, web-vitals measures each route on its own
  // (reportSoftNavs); elsewhere its INP and CLS span the whole document, and the snippet
  // measures each route's itself (below).
  var softNavs = false;
  try {
    softNavs = PerformanceObserver.supportedEntryTypes.indexOf('soft-navigation') >= 0 &&
      typeof PerformanceSoftNavigation === 'function' &&
      typeof PerformanceSoftNavigation.prototype.getLargestInteractionContentfulPaint === 'function';
  } catch (e) { softNavs = false; }
  var loads = {};  // each route's URL -> its page-load id, for metrics reported after it
  var firstIds = {};  // web-vitals' ids of the first route's metrics, which the route's own replace
  loads[location.href] = load;
  function vital(m) {
    if (routed && !softNavs && (m.name === 'INP' || m.name === 'CLS')) return;  // own per route
    // One item per metric id: a later report of the same id replaces the earlier value.
    for (var i = 0; i < queue.length; i++) {
      if (queue[i].k === 'vital' && queue[i].id === m.id) { queue.splice(i, 1); break; }
    }
    if (!routed) firstIds[m.name] = m.id;
    var url = m.navigationURL || location.href;
    push({k: 'vital', n: m.name, v: m.value, r: m.rating, nav: m.navigationType, id: m.id,
          u: url, l: loads[url] || load, a: pick(m.attribution, ATTR)});
  }
  push({k: 'pageview', nav: (performance.getEntriesByType && (performance.getEntriesByType('navigation')[0] || {}).type) || undefined});
  try {
    var opts = {reportSoftNavs: softNavs};
    webVitals.onLCP(vital, opts); webVitals.onINP(vital, opts); webVitals.onCLS(vital, opts);
    webVitals.onFCP(vital, opts); webVitals.onTTFB(vital, opts);
  } catch (e) { /* an old browser: errors and tasks still work */ }
  // Frustration: where a customer clicked, as a short selector with no text content.
  function selector(el) {
    var parts = [];
    for (var i = 0; el && el.nodeType === 1 && i < 3; i++, el = el.parentElement) {
      var s = el.tagName.toLowerCase();
      if (el.id) { parts.unshift(s + '#' + String(el.id).slice(0, 60)); break; }
      var cls = typeof el.className === 'string' ? el.className.trim().split(/\s+/).filter(Boolean).slice(0, 2) : [];
      if (cls.length) s += '.' + cls.join('.');
      parts.unshift(s);
    }
    return parts.join(' > ').slice(0, 200);
  }
  var clicks = [], lastClick = {at: 0, sel: null};
  var mutated = 0;  // DOM changes so far
  try {
    new MutationObserver(function () { mutated++; }).observe(document, {childList: true, subtree: true, attributes: true, characterData: true});
  } catch (e) { mutated = -1; }
  var leaving = false;  // the page is being left: no click on it can be dead
  addEventListener('pagehide', function () { leaving = true; });
  addEventListener('pageshow', function () { leaving = false; });
  // Requests the page starts (fetch and XHR, counted as they begin) and those it finished
  // (resource timing: images, scripts), leaving out observer's own beacons.
  var started = 0;
  try {
    var realFetch = window.fetch;
    if (realFetch) {
      window.fetch = function (input) {
        var url = typeof input === 'string' ? input : (input && input.url) || '';
        if (String(url).indexOf(endpoint) !== 0) started++;
        return realFetch.apply(this, arguments);
      };
    }
    var realSend = XMLHttpRequest.prototype.send;
    XMLHttpRequest.prototype.send = function () { started++; return realSend.apply(this, arguments); };
  } catch (e) { /* counted by resource timing alone */ }
  function requests(since) {
    try {
      return performance.getEntriesByType('resource').filter(function (r) {
        return r.startTime >= since && r.name.indexOf(endpoint) !== 0;
      }).length;
    } catch (e) { return 1; }
  }
  var raged = false;  // this burst was reported
  addEventListener('click', function (e) {
    if (!e.isTrusted) return;  // the page's own .click() calls are not the customer's
    var now = Date.now(), sel = selector(e.target);
    lastClick = {at: now, sel: sel};
    clicks = clicks.filter(function (c) {
      return now - c.at <= 1000 && Math.abs(c.x - e.clientX) <= 30 && Math.abs(c.y - e.clientY) <= 30;
    });
    if (!clicks.length) raged = false;  // a new burst
    clicks.push({at: now, x: e.clientX, y: e.clientY});
    if (clicks.length >= 3 && !raged) { raged = true; push({k: 'frustration', t: 'rage', sel: sel}); }
    var control = e.target && e.target.closest && e.target.closest('a[href],button,[role=button],input[type=submit],input[type=button]');
    if (!control || mutated < 0) return;
    // Clicks that act elsewhere: a new tab or window, a download, mail or a phone call.
    if (e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
    if (control.tagName === 'A' && (control.target && control.target !== '_self' ||
        control.hasAttribute('download') || /^(mailto|tel|sms|javascript):/i.test(control.getAttribute('href')))) return;
    var before = mutated, asked = started, href = location.href, t0 = performance.now();
    setTimeout(function () {
      var quiet = mutated === before && started === asked && requests(t0) === 0;
      if (quiet && location.href === href && !leaving) {
        push({k: 'frustration', t: 'dead', sel: sel});
      }
    }, 1000);
  }, true);
  addEventListener('error', function (e) {
    if (!e || !e.message) return;  // resource load errors have no message
    push({k: 'error', type: (e.error && e.error.name) || 'Error', msg: String(e.message).slice(0, 300), src: e.filename ? String(e.filename).slice(0, 300) : undefined});
    if (Date.now() - lastClick.at <= 1000) push({k: 'frustration', t: 'error', sel: lastClick.sel});
  });
  addEventListener('unhandledrejection', function (e) {
    var r = e && e.reason;
    push({k: 'error', type: 'UnhandledRejection', msg: String((r && r.message) || r).slice(0, 300)});
    if (Date.now() - lastClick.at <= 1000) push({k: 'frustration', t: 'error', sel: lastClick.sel});
  });
  // Single-page navigations: each route a page view of its own, with its own INP and CLS,
  // measured here (Event Timing and Layout Instability), since web-vitals' span the document.
  function newRoute() { return {inp: {}, window: 0, windowStart: 0, last: 0, cls: 0}; }
  var route = newRoute();
  function routeINP() {
    var d = Object.keys(route.inp).map(function (k) { return route.inp[k]; }).sort(function (a, b) { return b - a; });
    return d.length ? d[Math.min(Math.floor(d.length / 50), d.length - 1)] : null;  // p98, as web-vitals
  }
  try {
    new PerformanceObserver(function (list) {
      list.getEntries().forEach(function (e) {
        if (e.interactionId) route.inp[e.interactionId] = Math.max(route.inp[e.interactionId] || 0, e.duration);
      });
    }).observe({type: 'event', buffered: true, durationThreshold: 16});
    new PerformanceObserver(function (list) {
      list.getEntries().forEach(function (e) {
        if (e.hadRecentInput) return;
        // Session windows: shifts less than 1 s apart, at most 5 s long; CLS is the largest.
        if (route.window && e.startTime - route.last < 1000 && e.startTime - route.windowStart < 5000) {
          route.window += e.value;
        } else { route.window = e.value; route.windowStart = e.startTime; }
        route.last = e.startTime;
        route.cls = Math.max(route.cls, route.window);
      });
    }).observe({type: 'layout-shift', buffered: true});
  } catch (e) { /* a browser without them: routes still count as page views */ }
  function closeRoute() {
    if (softNavs) { flush(); return; }  // web-vitals reports the route it closes
    if (!routed) {
      // The first route's web-vitals INP and CLS would grow into the next routes': drop them.
      for (var i = queue.length - 1; i >= 0; i--) {
        if (queue[i].k === 'vital' && (queue[i].n === 'INP' || queue[i].n === 'CLS')) queue.splice(i, 1);
      }
    }
    // Pushed once the URL has already changed: they belong to the route being left.
    routeVitals(here);
    flush();  // a batch carries one page load's id: this route's go out under it
  }
  function routeVitals(url) {
    // The route's own INP and CLS. The first route's keep web-vitals' ids: a value it already
    // sent is replaced, not doubled.
    var inp = routeINP(), nav = routed ? 'soft-navigation' : undefined;
    var inpId = (!routed && firstIds.INP) || load + '.inp';
    var clsId = (!routed && firstIds.CLS) || load + '.cls';
    if (inp !== null) push({k: 'vital', n: 'INP', v: inp, u: url, nav: nav, id: inpId});
    push({k: 'vital', n: 'CLS', v: route.cls, u: url, nav: nav, id: clsId});
  }
  function bare(url) { return String(url).split('#')[0]; }
  var here = location.href;
  function routeChanged() {
    // The same route: a state change, or an in-page anchor (#reviews, a skip link).
    if (bare(location.href) === bare(here)) { here = location.href; return; }
    closeRoute();
    routed = true;
    here = location.href;
    load = rand();
    loads[here] = load;
    seq = 0;
    route = newRoute();
    push({k: 'pageview', nav: 'soft-navigation'});
  }
  ['pushState', 'replaceState'].forEach(function (name) {
    var real = history[name];
    if (!real) return;
    history[name] = function () {
      var out = real.apply(this, arguments);
      try {
        if (name === 'pushState') routeChanged(); else here = location.href;
      } catch (e) { /* never the app's router's problem */ }
      return out;
    };
  });
  addEventListener('popstate', routeChanged);
  addEventListener('visibilitychange', function () {
    if (document.visibilityState !== 'hidden') return;
    if (routed && !softNavs) routeVitals(here);
    flush();
  });
  addEventListener('pagehide', flush);
})();
