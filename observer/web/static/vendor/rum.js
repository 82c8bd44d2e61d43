(function(){
var webVitals=function(t){"use strict";class n{t;o=0;i=[];l(t){if(t.hadRecentInput)return;const n=this.i[0],e=this.i.at(-1);this.o&&n&&e&&t.startTime-e.startTime<1e3&&t.startTime-n.startTime<5e3?(this.o+=t.value,this.i.push(t)):(this.o=t.value,this.i=[t]),this.t?.(t)}}const e=()=>{const t=performance.getEntriesByType("navigation")[0];if(t&&t.responseStart>0&&t.responseStart<performance.now())return t},o=t=>{if("loading"===document.readyState)return"loading";const n=e();if(n){if(t<n.domInteractive)return"loading";if(0===n.domContentLoadedEventStart||t<n.domContentLoadedEventStart)return"dom-interactive";if(0===n.domComplete||t<n.domComplete)return"dom-content-loaded"}return"complete"},i=t=>{const n=t.nodeName;return 1===t.nodeType?n.toLowerCase():n.toUpperCase().replace(/^#/,"")},a=t=>{let n="";try{for(;9!==t?.nodeType;){const e=t,o=e.id?"#"+e.id:[i(e),...Array.from(e.classList??[]).sort()].join(".");if(n.length+o.length>99)return n||o;if(n=n?o+">"+n:o,e.id)break;t=e.parentNode}}catch{}return n},r=new WeakMap;function s(t,n){let e=r.get(n);return e||(e=new WeakMap,r.set(n,e)),e.get(t)||e.set(t,new n),e.get(t)}let c=-1;const f=()=>c,l=t=>{addEventListener("pageshow",n=>{n.persisted&&(c=n.timeStamp,t(n))},!0)},u=(t,n,e,o)=>{let i,a;return r=>{n.value>=0&&(r||o)&&(a=n.value-(i??0),(a||void 0===i)&&(i=n.value,n.delta=a,n.rating=((t,n)=>t>n[1]?"poor":t>n[0]?"needs-improvement":"good")(n.value,e),t(n)))}},d=t=>{requestAnimationFrame(()=>requestAnimationFrame(()=>t()))},h=()=>e()?.activationStart??0;let g=-1;const v=new Set,p=()=>"hidden"!==document.visibilityState||document.prerendering?1/0:0,m=t=>{if("hidden"===document.visibilityState){if("visibilitychange"===t.type)for(const t of v)t();isFinite(g)||(g="visibilitychange"===t.type?t.timeStamp:0,removeEventListener("prerenderingchange",m,!0))}},y=(t=!1)=>{if(t&&(g=1/0),g<0){const t=h(),n=document.prerendering?void 0:globalThis.performance.getEntriesByType("visibility-state").find(n=>"hidden"===n.name&&n.startTime>=t)?.startTime;g=n??p(),addEventListener("visibilitychange",m,!0),addEventListener("prerenderingchange",m,!0),l(()=>{setTimeout(()=>{g=p()})})}return{get firstHiddenTime(){return g},onHidden(t){v.add(t)}}},b=(t,n=-1,o,i=0,a,r,s)=>{const c=e(),l=c?.navigationId||0;let u="navigate";o?u=o:f()>=0?u="back-forward-cache":c&&(document.prerendering||h()>0?u="prerender":document.wasDiscarded?u="restore":c.type&&(u=c.type.replace(/_/g,"-")));return{name:t,value:n,rating:"good",delta:0,entries:[],id:`v6-${Date.now()}-${Math.floor(8999999999999*Math.random())+1e12}`,navigationType:u,navigationId:i||l,navigationInteractionId:a,navigationURL:r||c?.name,navigationStartTime:s||0}},M=(t,n,e={})=>{try{const o=t.filter(t=>PerformanceObserver.supportedEntryTypes.includes(t));if(o.length>0){const t=new PerformanceObserver(t=>{queueMicrotask(()=>{const e=t.getEntries();o.length>1&&e.sort((t,n)=>t.startTime+t.duration-(n.startTime+n.duration)),n(e)})});for(const n of o)t.observe({type:n,buffered:!0,...e});return t}}catch{}},T=t=>globalThis.PerformanceObserver?.supportedEntryTypes?.includes("soft-navigation")&&"function"==typeof globalThis.PerformanceSoftNavigation?.prototype?.getLargestInteractionContentfulPaint&&t&&t.reportSoftNavs,E=(t,n)=>{if(t.set(n.navigationId,n),t.size>2){const n=t.keys().next().value;void 0!==n&&t.delete(n)}},D=t=>{let n=!1;return()=>{n||(t(),n=!0)}};class w{u}const S=t=>{document.prerendering?addEventListener("prerenderingchange",t,!0):t()},k=[1800,3e3],L=(t,n={})=>{const e=T(n);S(()=>{const o=s(n,w),i=y();let a,r=b("FCP");const c=M(["paint"],t=>{for(const n of t)"first-contentful-paint"===n.name&&(c.disconnect(),n.startTime<i.firstHiddenTime&&(r.value=Math.max(n.startTime-h(),0),r.entries.push(n),r.navigationId=n.navigationId||r.navigationId,a(!0)))});if(c&&(a=u(t,r,k,n.reportAllChanges),l(e=>{r=b("FCP",-1,"back-forward-cache",r.navigationId,r.navigationInteractionId,r.navigationURL,f()),a=u(t,r,k,n.reportAllChanges),d(()=>{r.value=performance.now()-e.timeStamp,a(!0)})})),e){M(["soft-navigation"],e=>{e.forEach(e=>{o.u&&e.navigationId&&E(o.u,e);const i=Math.max((e.presentationTime||e.paintTime||0)-e.startTime,0);r=b("FCP",i,"soft-navigation",e.navigationId,e.interactionId,e.name,e.startTime),a=u(t,r,k,n.reportAllChanges),a(!0)})},n)}})},P=[.1,.25],F=t=>t.find(t=>1===t.node?.nodeType)||t[0];let _=0,C=1/0,I=0;const B=t=>{for(const n of t)n.interactionId&&(C=Math.min(C,n.interactionId),I=Math.max(I,n.interactionId),_=I?(I-C)/7+1:0)};let O;const j=()=>O?_:performance.interactionCount??0,A=()=>{"interactionCount"in performance||O||(O=M(["event"],B,{durationThreshold:0}))};class N{h=0;v=[];p=new Map;m;M;T(){return j()-this.h}D(){this.h=j(),this.v.length=0,this.p.clear()}S(t){const n=this.T(),e=Math.min(this.v.length-1,Math.floor(n/50));return!n||-1!==e||"soft-navigation"!==t&&"back-forward-cache"!==t?this.v[e]:{k:8,id:-1,entries:[]}}l(t){if(this.m?.(t),!t.interactionId)return;const n=this.v.at(-1);let e=this.p.get(t.interactionId);if(e||this.v.length<10||t.duration>n.k){if(e?t.duration>e.k?(e.entries=[t],e.k=t.duration):t.duration===e.k&&t.startTime===e.entries[0].startTime&&e.entries.push(t):(e={id:t.interactionId,entries:[t],k:t.duration},this.p.set(e.id,e),this.v.push(e)),this.v.sort((t,n)=>n.k-t.k),this.v.length>10){const t=this.v.splice(10);for(const n of t)this.p.delete(n.id)}this.M?.(e)}}}const q=t=>{const n="requestIdleCallback"in globalThis?1e3:0,e=globalThis.requestIdleCallback||setTimeout,o=globalThis.cancelIdleCallback||clearTimeout;if("hidden"===document.visibilityState)t();else{const i=D(t);let a=-1;const r=()=>{o(a),i()};addEventListener("visibilitychange",r,{once:!0,capture:!0}),a=e(()=>{removeEventListener("visibilitychange",r,{capture:!0}),i()},{timeout:n})}},W=[200,500];class R{m;u;l(t){this.m?.(t)}}const U=[2500,4e3];let V=50;const $=[];M(["resource"],t=>{for(const n of t)$.push(n),$.length>V&&$.shift()});const x=[800,1800],H=t=>{document.prerendering?S(()=>H(t)):"complete"!==document.readyState?addEventListener("load",()=>H(t),!0):setTimeout(t)};return t.CLSThresholds=P,t.FCPThresholds=k,t.INPThresholds=W,t.LCPThresholds=U,t.TTFBThresholds=x,t.onCLS=(t,e={})=>{const i=s(e=Object.assign({},e),n),r=new WeakMap;i.t=t=>{if(t?.sources?.length){const n=F(t.sources),o=n?.node;if(o){const t=e.generateTarget?.(o)??a(o);r.set(n,t)}}};((t,e={})=>{const o=y();L(D(()=>{let i,a=b("CLS",0);const r=s(e,n),c=(n,o,s,c,f)=>{a=b("CLS",0,n,o,s,c,f),r.o=0,i=u(t,a,P,e.reportAllChanges)},h=(t=!1)=>{r.o>a.value&&(a.value=r.o,a.entries=r.i),i(t)},g=t=>{h(!0),c("soft-navigation",t.navigationId,t.interactionId,t.name,t.startTime)},v=t=>{for(const n of t)"soft-navigation"!==n.entryType?r.l(n):g(n);h()},p=["layout-shift"];T(e)&&p.push("soft-navigation");const m=M(p,v);m&&(i=u(t,a,P,e.reportAllChanges),o.onHidden(()=>{v(m.takeRecords()),i(!0)}),l(()=>{c("back-forward-cache",a.navigationId,a.navigationInteractionId,a.navigationURL,f()),d(i)}),setTimeout(i))}))})(n=>{t((t=>{let n={};if(t.entries.length){const e=t.entries.reduce((t,n)=>t.value>n.value?t:n);if(e?.sources?.length){const t=F(e.sources);t&&(n={largestShiftTarget:r.get(t),largestShiftTime:e.startTime,largestShiftValue:e.value,largestShiftSource:t,largestShiftEntry:e,loadState:o(e.startTime)})}}return Object.assign(t,{attribution:n})})(n))},e)},t.onFCP=(t,n={})=>{const i=s(n=Object.assign({},n),w);T(n)&&(i.u=new Map);L(n=>{t((t=>{let n={timeToFirstByte:0,firstByteToFCP:t.value,loadState:o(f())};if("soft-navigation"!==t.navigationType){if(t.entries.length){const i=e(),a=t.entries.at(-1);if(i){const e=i.responseStart,r=i.activationStart||0,s=Math.max(0,e-r);n={timeToFirstByte:s,firstByteToFCP:t.value-s,loadState:o(t.entries[0].startTime),navigationEntry:i,fcpEntry:a}}}}else{const e=i.u?.get(t.navigationId);e&&(n={timeToFirstByte:0,firstByteToFCP:t.value,loadState:"complete",navigationEntry:e})}return Object.assign(t,{attribution:n})})(n))},n)},t.onINP=(t,n={})=>{const e=s(n=Object.assign({},n),N);let i=[],r=[],c=0;const d=new WeakMap,h=new WeakMap;let g=!1;const v=()=>{g||(g=!0,q(p))},p=()=>{const t=new Set(e.v.map(t=>d.get(t.entries[0]))),n=r.length-10;r=r.filter((e,o)=>o>=n||t.has(e));const o=new Set;for(const t of r){const n=m(t.startTime,t.processingEnd);for(const t of n)o.add(t)}const a=i.length-10;i=i.filter((t,n)=>o.has(t)||n>=a&&t.startTime>c),g=!1};e.m=t=>{const e=t.startTime+t.duration;let o;c=Math.max(c,t.processingEnd);for(let i=r.length-1;i>=0;i--){const a=r[i];if(Math.abs(e-a.renderTime)<=8){o=a,o.startTime=Math.min(t.startTime,o.startTime),o.processingStart=Math.min(t.processingStart,o.processingStart),o.processingEnd=Math.max(t.processingEnd,o.processingEnd),n.includeProcessedEventEntries&&o.entries.push(t);break}}o||(o={startTime:t.startTime,processingStart:t.processingStart,processingEnd:t.processingEnd,renderTime:e,entries:n.includeProcessedEventEntries?[t]:[]},r.push(o)),t.interactionId&&d.set(t,o),v()},e.M=t=>{if(!h.get(t)){const e=t.entries.find(t=>t.target)?.target;if(e){const o=n.generateTarget?.(e)??a(e);h.set(t,o)}else{const n=t.entries.find(t=>t.targetSelector)?.targetSelector;n&&h.set(t,n)}}};const m=(t,n)=>{const e=[];for(const o of i)if(!(o.startTime+o.duration<t)){if(o.startTime>n)break;e.push(o)}return e},E=t=>{if(0===t.entries.length){const n=t.navigationStartTime||0,e={processedEventEntries:[],longAnimationFrameEntries:[],inputDelay:0,processingDuration:0,presentationDelay:t.value,loadState:o(n)};return Object.assign(t,{attribution:e})}const n=t.entries[0],i=d.get(n),a=Math.max(i.processingStart,n.startTime),r=Math.max(n.startTime+n.duration,a),s=Math.min(i.processingEnd,r),c=i.entries.sort((t,n)=>t.processingStart-n.processingStart),f=m(n.startTime,s),l=e.p.get(n.interactionId),u={interactionTarget:h.get(l),interactionType:n.name.startsWith("key")?"keyboard":"pointer",interactionTime:n.startTime,nextPaintTime:r,processedEventEntries:c,longAnimationFrameEntries:f,inputDelay:a-n.startTime,processingDuration:s-a,presentationDelay:r-s,loadState:o(n.startTime),longestScript:void 0,totalScriptDuration:void 0,totalStyleAndLayoutDuration:void 0,totalPaintDuration:void 0,totalUnattributedDuration:void 0};return(t=>{const n=t.interactionTime,e=t.nextPaintTime;if(!t.longAnimationFrameEntries?.length||!n||!e)return;const o=t.inputDelay,i=t.processingDuration;let a,r,s=0,c=0,f=0,l=0;for(const e of t.longAnimationFrameEntries){c=c+e.startTime+e.duration-e.styleAndLayoutStart;for(const t of e.scripts){const e=t.startTime+t.duration;if(e<n)continue;const f=e-Math.max(n,t.startTime),u=t.duration?f/t.duration*t.forcedStyleAndLayoutDuration:0;s+=f-u,c+=u,f>l&&(r=t.startTime<n+o?"input-delay":t.startTime>=n+o+i?"presentation-delay":"processing-duration",a=t,l=f)}}const u=t.longAnimationFrameEntries.at(-1),d=u?u.startTime+u.duration:0;d>=n+o+i&&(f=e-d),a&&r&&(t.longestScript={entry:a,subpart:r,intersectingDuration:l}),t.totalScriptDuration=s,t.totalStyleAndLayoutDuration=c,t.totalPaintDuration=f,t.totalUnattributedDuration=e-n-s-c-f})(u),Object.assign(t,{attribution:u})};M(["long-animation-frame"],t=>{i=i.concat(t),v()},n),((t,n={})=>{if(!globalThis.PerformanceEventTiming||!("interactionId"in PerformanceEventTiming.prototype))return;const e=y();S(()=>{A();let o,i=b("INP");const a=s(n,N),r=(e,r,s,c,f)=>{a.D(),i=b("INP",-1,e,r,s,c,f),o=u(t,i,W,n.reportAllChanges)},c=()=>{const t=a.S(i.navigationType);t&&t.k!==i.value&&(i.value=t.k,i.entries=t.entries,o())},d=t=>{c(),o(!0),r("soft-navigation",t.navigationId,t.interactionId,t.name,t.startTime)},h=(t,n=!1)=>{q(()=>{for(const n of t)"soft-navigation"!==n.entryType?a.l(n):d(n);c(),n&&o(!0)})},g=["event","first-input"];T(n)&&g.push("soft-navigation");const v=M(g,h,{...n,durationThreshold:n.durationThreshold??40});o=u(t,i,W,n.reportAllChanges),v&&(e.onHidden(()=>{h(v.takeRecords(),!0)}),l(()=>{r("back-forward-cache",i.navigationId,i.navigationInteractionId,i.navigationURL,f())}))})})(n=>{t(E(n))},n)},t.onLCP=(t,n={})=>{null!=(n=Object.assign({},n)).resourceBufferSize&&(V=n.resourceBufferSize);const o=s(n,R),i=new WeakMap;T(n)&&(o.u=new Map),o.m=t=>{const e=t.element;if(e){const o=n.generateTarget?.(e)??a(e);i.set(t,o)}else t.id&&i.set(t,`#${t.id}`)};((t,n={})=>{let e=!1;const o=T(n);S(()=>{let i,a=y(),r=b("LCP");const c=s(n,R),g=(o,s,c,f,l)=>{r=b("LCP",-1,o,s,c,f,l),i=u(t,r,U,n.reportAllChanges),e=!1,"soft-navigation"===o&&(a=y(!0))},v=t=>{c.u&&t.navigationId&&E(c.u,t),e||i(!0),g("soft-navigation",t.navigationId,t.interactionId,t.name,t.startTime);const n=t.getLargestInteractionContentfulPaint?.();n&&p([n])},p=t=>{n.reportAllChanges||o||(t=t.slice(-1));for(const n of t){if(!n)continue;if("soft-navigation"===n.entryType){v(n);continue}let t=0,e=[],o=n.startTime;if("largest-contentful-paint"===n.entryType)t=Math.max(n.startTime-h(),0),c.l(n),e=[n];else if("interaction-contentful-paint"===n.entryType){const i=n;if(!r.navigationId)continue;if("interactionId"in i&&i.interactionId!=r.navigationInteractionId)continue;o=i.largestContentfulPaint?.renderTime||0,t=Math.max(o-n.startTime,0),i.largestContentfulPaint&&(c.l(i.largestContentfulPaint),e=[i.largestContentfulPaint])}o<a.firstHiddenTime&&(r.value=t,r.entries=e,i())}},m=["largest-contentful-paint"];o&&m.push("interaction-contentful-paint","soft-navigation");const T=M(m,p);if(T){i=u(t,r,U,n.reportAllChanges);const a=["keydown","click","visibilitychange"],s=t=>{if(t.isTrusted&&!e){const t=r.id;q(()=>{if(!e){if(!o){T.disconnect();for(const t of a)removeEventListener(t,s,{capture:!0})}t===r.id&&(e=!0,i(!0))}})}};for(const t of a)addEventListener(t,s,{capture:!0});l(o=>{g("back-forward-cache",r.navigationId,r.navigationInteractionId,r.navigationURL,f()),i=u(t,r,U,n.reportAllChanges),d(()=>{r.value=performance.now()-o.timeStamp,e=!0,i(!0)})})}})})(n=>{t((t=>{let n={timeToFirstByte:0,resourceLoadDelay:0,resourceLoadDuration:0,elementRenderDelay:t.value};if(t.entries.length){const a=t.entries.at(-1),r=t=>t.name===a.url&&(t.requestStart||t.startTime)<=a.startTime,s=a.url&&($.findLast(r)||performance.getEntriesByType("resource").findLast(r));let c;n.target=i.get(a),n.lcpEntry=a,a.url&&(n.url=a.url),s&&(n.lcpResourceEntry=s);let f=0,l=0;if("soft-navigation"!==t.navigationType?(c=e(),f=c?.activationStart??0,l=c?.responseStart??0):(f=t.navigationStartTime||0,c=o.u?.get(t.navigationId)),c){const e=Math.max(0,l-f),o=Math.max(e,s?(s.requestStart||s.startTime)-f:0),i=Math.min(t.value,Math.max(o,s?s.responseEnd-f:0));n={...n,timeToFirstByte:e,resourceLoadDelay:o-e,resourceLoadDuration:i-o,elementRenderDelay:t.value-i,navigationEntry:c}}}return Object.assign(t,{attribution:n})})(n))},n)},t.onTTFB=(t,n={})=>{((t,n={})=>{const o=T(n);let i=b("TTFB"),a=u(t,i,x,n.reportAllChanges);H(()=>{const r=e();if(r){const e=r.responseStart;i.value=Math.max(e-h(),0),i.entries=[r],a(!0),l(()=>{i=b("TTFB",0,"back-forward-cache",i.navigationId,i.navigationInteractionId,i.navigationURL,f()),a=u(t,i,x,n.reportAllChanges),a(!0)}),o&&M(["soft-navigation"],e=>{e.forEach(e=>{e.navigationId&&(i=b("TTFB",0,"soft-navigation",e.navigationId,e.interactionId,e.name,e.startTime),i.entries=[e],a=u(t,i,x,n.reportAllChanges),a(!0))})},n)}})})(n=>{t((t=>{const n=t.entries[0];let e={waitingDuration:0,cacheDuration:0,dnsDuration:0,connectionDuration:0,requestDuration:0,navigationEntry:n};if(t.entries.length&&n instanceof PerformanceNavigationTiming){const o=n.activationStart||0,i=Math.max((n.workerStart||n.fetchStart||0)-o,0),a=Math.max(n.domainLookupStart-o,0),r=Math.max(n.connectStart-o,0),s=Math.max(n.connectEnd-o,0);e={waitingDuration:i,cacheDuration:a-i,dnsDuration:r-a,connectionDuration:s-r,requestDuration:t.value-s,navigationEntry:n}}return Object.assign(t,{attribution:e})})(n))},n)},t}({});
//# sourceMappingURL=web-vitals.attribution.iife.js.map

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

})();
