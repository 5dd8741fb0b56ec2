/* Service worker of the field app: the app shell from the cache, so the app opens with no
   network. Data (plans, drafts, photos) live in IndexedDB, never in this cache; API requests
   (/field/api/, /me) always go to the network. Bump VERSION when the shell changes. */
'use strict';
var VERSION = 'gongjian-field-v1';
var SHELL = [
  '/field/',
  '/field/manifest.webmanifest',
  '/static/field/app.js',
  '/static/field/app.css',
  '/static/field/icon-192.png',
  '/static/field/icon-512.png',
  '/static/vendor/leaflet/leaflet.js',
  '/static/vendor/leaflet/leaflet.css',
  '/static/vendor/idb/idb.umd.js'
];

self.addEventListener('install', function (event) {
  event.waitUntil(caches.open(VERSION).then(function (cache) { return cache.addAll(SHELL); })
    .then(function () { return self.skipWaiting(); }));
});

self.addEventListener('activate', function (event) {
  event.waitUntil(caches.keys().then(function (keys) {
    return Promise.all(keys.filter(function (k) { return k !== VERSION; })
      .map(function (k) { return caches.delete(k); }));
  }).then(function () { return self.clients.claim(); }));
});

self.addEventListener('fetch', function (event) {
  var url = new URL(event.request.url);
  if (event.request.method !== 'GET' || url.origin !== self.location.origin) { return; }
  var path = url.pathname === '/field' ? '/field/' : url.pathname;
  if (SHELL.indexOf(path) < 0) { return; }
  // stale-while-revalidate: the cached shell at once, a fresh copy for next time
  event.respondWith(caches.open(VERSION).then(function (cache) {
    return cache.match(path).then(function (cached) {
      var fresh = fetch(event.request).then(function (response) {
        if (response.ok) { cache.put(path, response.clone()); }
        return response;
      });
      if (cached) { fresh.catch(function () {}); return cached; }
      return fresh;
    });
  }));
});
