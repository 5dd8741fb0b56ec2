/* 攻坚图 · 督查走访: the inspectors' offline phone app.

   Plans are downloaded as one offline package each and kept in IndexedDB (idb, vendored);
   visits are drafts in IndexedDB until a sync stores them on the server. Each draft has a
   client-generated UUID, so sending it twice stores it once; a sync stops at the first
   network or token problem and carries on from there next time (each draft is marked as it
   is stored). Photos are compressed on the phone (canvas → JPEG) and sent with their SHA-256.
   Nothing here leaves our own server. */
(function () {
  'use strict';

  var TOKEN_KEY = 'gongjian.field.token';
  var MAX_ORIGINAL_MB = 40;    // a camera original above this is refused at once
  var PHOTO_LONG_SIDE = 1600;  // pixels after compression
  var PHOTO_TARGET_KB = 600;
  var CHECK_ORDER = ['food', 'clothing', 'education', 'medical', 'housing'];
  var STATE_TEXT = { draft: '待同步', synced: '已同步', conflict: '冲突', refused: '未保存' };

  var app = { db: null, token: null, me: null, pkg: null, day: null, household: null,
    draft: null, position: null, map: null, meMarker: null, meCircle: null, watch: null };

  function $(id) { return document.getElementById(id); }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === 'text') { node.textContent = attrs[k]; } else { node.setAttribute(k, attrs[k]); }
    });
    (children || []).forEach(function (c) { if (c) { node.appendChild(c); } });
    return node;
  }

  function uuid() {
    if (crypto.randomUUID) { return crypto.randomUUID(); }
    var b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join('');
    return h.slice(0, 8) + '-' + h.slice(8, 12) + '-' + h.slice(12, 16) + '-' + h.slice(16, 20) + '-' + h.slice(20);
  }

  function nowIso() {  // the phone's clock with its offset; the server corrects the skew
    var d = new Date(); var off = -d.getTimezoneOffset();
    var pad = function (n) { return String(Math.floor(Math.abs(n))).padStart(2, '0'); };
    var local = new Date(d.getTime() + off * 60000).toISOString().slice(0, 23);
    return local + (off >= 0 ? '+' : '-') + pad(off / 60) + ':' + pad(off % 60);
  }

  // --- storage ---------------------------------------------------------------------------

  function openDb() {
    return idb.openDB('gongjian-field', 1, {
      upgrade: function (db) {
        db.createObjectStore('packages', { keyPath: 'plan.id' });
        var drafts = db.createObjectStore('drafts', { keyPath: 'client_id' });
        drafts.createIndex('plan_household', ['plan_id', 'household_id'], { unique: true });
        db.createObjectStore('photos', { keyPath: 'sha256' });
      }
    });
  }

  function draftsOf(planId) {
    return app.db.getAll('drafts').then(function (all) {
      return all.filter(function (d) { return planId === undefined || d.plan_id === planId; });
    });
  }

  // --- server ----------------------------------------------------------------------------

  function api(path, options) {
    options = options || {};
    options.headers = Object.assign({ Authorization: 'Bearer ' + app.token }, options.headers || {});
    return fetch(path, options).then(function (response) {
      if (response.status === 401) {
        var e = new Error('登录已失效（令牌无效或已撤销）：草稿已保留，请重新登录后同步');
        e.unauthorized = true; throw e;
      }
      return response.json().catch(function () { return {}; }).then(function (body) {
        if (!response.ok) {
          var e = new Error(body.description || ('服务器错误 ' + response.status));
          e.status = response.status; throw e;
        }
        return body;
      });
    }, function () {
      var e = new Error('网络不可用'); e.offline = true; throw e;
    });
  }

  // --- screens ---------------------------------------------------------------------------

  function show(id, title, back) {
    ['login', 'home', 'plan', 'household'].forEach(function (s) { $(s).hidden = s !== id; });
    $('title').textContent = title;
    $('back').hidden = !back;
    $('back').onclick = back || null;
    window.scrollTo(0, 0);
  }

  function updateNet() {
    $('net').textContent = navigator.onLine ? '在线' : '离线';
    $('net').className = 'net' + (navigator.onLine ? '' : ' offline');
  }

  function showLogin(message) {
    show('login', '督查走访 · 登录');
    $('login-msg').textContent = message || '';
  }

  function login() {
    var token = $('token').value.trim();
    if (!token) { $('login-msg').textContent = '请输入令牌'; return; }
    app.token = token;
    api('/me').then(function (me) {
      if (me.role !== 'inspector' && me.role !== 'admin') {
        throw new Error('此令牌的角色是 ' + me.role + '：督查走访需要督查（inspector）令牌');
      }
      localStorage.setItem(TOKEN_KEY, token);
      localStorage.setItem(TOKEN_KEY + '.me', JSON.stringify(me));
      app.me = me; showHome();
    }).catch(function (e) { app.token = null; $('login-msg').textContent = e.message; });
  }

  function showHome(message) {
    show('home', '督查走访');
    $('who').textContent = app.me ? app.me.name + '（' + (app.me.scope_name || app.me.scope) + '）' : '';
    $('home-msg').textContent = message || '';
    renderOffline();
    refreshPending();
    if (navigator.onLine) { loadOnlinePlans(); }
  }

  function renderOffline() {
    return Promise.all([app.db.getAll('packages'), draftsOf()]).then(function (r) {
      var list = $('offline-plans'); list.textContent = '';
      if (!r[0].length) { list.appendChild(el('li', { class: 'muted', text: '还没有下载计划' })); }
      r[0].forEach(function (pkg) {
        var mine = r[1].filter(function (d) { return d.plan_id === pkg.plan.id; });
        var li = el('li', { 'data-plan': pkg.plan.id }, [
          el('span', { class: 'grow', text: '#' + pkg.plan.id + ' ' + pkg.plan.title }),
          el('span', { class: 'state', text: mine.length + '/' + pkg.households.length + ' 已访' })
        ]);
        li.onclick = function () { openPlan(pkg.plan.id); };
        list.appendChild(li);
      });
    });
  }

  function loadOnlinePlans() {
    api('/field/api/plans').then(function (body) {
      var list = $('online-plans'); list.textContent = '';
      if (!body.plans.length) { list.appendChild(el('li', { class: 'muted', text: '您的范围内没有路线计划' })); }
      body.plans.forEach(function (p) {
        var button = el('button', { text: '下载离线包', 'data-download': p.id });
        button.onclick = function () { download(p.id, button); };
        list.appendChild(el('li', {}, [
          el('span', { class: 'grow', text: '#' + p.id + ' ' + p.title + '（' + p.planned + ' 户）' }), button
        ]));
      });
    }).catch(function (e) {
      if (e.unauthorized) { showLogin(e.message); return; }
      $('online-plans').textContent = '';
      $('online-plans').appendChild(el('li', { class: 'muted', text: e.message }));
    });
  }

  function download(planId, button) {
    button.disabled = true; button.textContent = '下载中…';
    api('/field/api/plans/' + planId + '/package').then(function (pkg) {
      return app.db.put('packages', pkg).then(function () {
        var kb = Math.round(JSON.stringify(pkg).length / 1024);
        button.textContent = '已下载'; button.disabled = false;
        $('home-msg').textContent = '计划 #' + planId + ' 已存入手机（' + kb + ' KB，' +
          pkg.households.length + ' 户）：无信号时也可使用';
        renderOffline();
      });
    }).catch(function (e) {
      button.disabled = false; button.textContent = '下载离线包';
      $('home-msg').textContent = e.status === 404 ? '计划 #' + planId + ' 已在服务器上删除' : e.message;
    });
  }

  // --- plan: map and stops ---------------------------------------------------------------

  function openPlan(planId) {
    app.db.get('packages', planId).then(function (pkg) {
      app.pkg = pkg;
      show('plan', pkg.plan.title, function () { stopWatching(); showHome(); });
      $('note').textContent = pkg.plan.note || '';
      var select = $('day'); select.textContent = '';
      pkg.days.forEach(function (d) {
        select.appendChild(el('option', { value: d.id, text: d.inspector_name + ' 第' + d.day + '天（' + d.stops.length + ' 户）' }));
      });
      select.appendChild(el('option', { value: 'all', text: '全部 ' + pkg.households.length + ' 户' }));
      if (app.day === null || !pkg.days.some(function (d) { return String(d.id) === String(app.day); })) {
        app.day = pkg.days.length ? String(pkg.days[0].id) : 'all';
      }
      select.value = app.day;
      select.onchange = function () { app.day = select.value; renderStops(); };
      drawMap(pkg);
      renderStops();
      watchPosition();
    });
  }

  function dayHouseholds() {
    var pkg = app.pkg;
    if (app.day === 'all') { return pkg.households; }
    var day = pkg.days.filter(function (d) { return String(d.id) === String(app.day); })[0];
    var byId = {};
    pkg.households.forEach(function (h) { byId[h.household_id] = h; });
    return day ? day.stops.map(function (id) { return byId[id]; }) : [];
  }

  function renderStops() {
    draftsOf(app.pkg.plan.id).then(function (drafts) {
      var state = {};
      drafts.forEach(function (d) { state[d.household_id] = d.state; });
      var list = $('stops'); list.textContent = '';
      dayHouseholds().forEach(function (h, i) {
        var s = state[h.household_id];
        var li = el('li', { 'data-household': h.household_id }, [
          el('span', { class: 'seq', text: String(h.seq || i + 1) }),
          el('span', { class: 'grow', text: h.head_name + ' · ' + h.village_name + (h.hamlet_name ? h.hamlet_name : '') + ' · ' + h.household_no }),
          el('span', { class: 'state ' + (s || ''), text: s ? STATE_TEXT[s] : '未访' })
        ]);
        li.onclick = function () { openHousehold(h); };
        list.appendChild(li);
      });
      drawStops();
    });
  }

  var STYLE = {
    road: function (p) { return { color: p['class'] === 'village' ? '#999' : '#d95f0e', weight: p['class'] === 'village' ? 2 : 3, dashArray: p.surface === 'hardened' ? null : '4 4' }; },
    river: function () { return { color: '#4a90d9', weight: 2 }; },
    village: function () { return { color: '#666', weight: 1, dashArray: '2 4' }; },
    route: function () { return { color: '#b2182b', weight: 4, opacity: 0.7 }; }
  };

  function drawMap(pkg) {
    if (app.map) { app.map.remove(); }
    app.map = L.map('map', { zoomControl: true, attributionControl: true });
    app.map.attributionControl.setPrefix(false);
    if (pkg.plan.note) { app.map.attributionControl.addAttribution(pkg.plan.note); }
    if (pkg.hillshade) {  // the terrain under the route, from the package (no tiles online)
      L.imageOverlay(pkg.hillshade.image, pkg.hillshade.bounds, { opacity: 0.85 }).addTo(app.map);
    }
    L.geoJSON(pkg.map, { style: function (f) { return STYLE[f.properties.layer](f.properties); } }).addTo(app.map);
    app.stopLayer = L.layerGroup().addTo(app.map);
    var pts = pkg.households.map(function (h) { return [h.lat, h.lon]; });
    if (pts.length) { app.map.fitBounds(pts, { padding: [20, 20] }); } else { app.map.setView([24.8, 112.4], 11); }
  }

  function drawStops() {
    app.stopLayer.clearLayers();
    dayHouseholds().forEach(function (h, i) {
      var marker = L.marker([h.lat, h.lon], { icon: L.divIcon({ className: '', html:
        '<span class="seq">' + (h.seq || i + 1) + '</span>', iconSize: [26, 26], iconAnchor: [13, 13] }) });
      marker.on('click', function () { openHousehold(h); });
      app.stopLayer.addLayer(marker);
    });
  }

  function watchPosition() {
    if (!navigator.geolocation) { $('gps').textContent = '此设备不支持定位'; return; }
    stopWatching();
    app.watch = navigator.geolocation.watchPosition(function (p) {
      app.position = { lon: p.coords.longitude, lat: p.coords.latitude, accuracy_m: p.coords.accuracy, at: Date.now() };
      var text = '我的位置 ±' + Math.round(p.coords.accuracy) + ' m';
      $('gps').textContent = text; $('fix').textContent = '定位：' + text.slice(5);
      if (app.map && !$('plan').hidden) {
        var ll = [p.coords.latitude, p.coords.longitude];
        if (!app.meMarker) {
          app.meCircle = L.circle(ll, { radius: p.coords.accuracy, weight: 1, color: '#2b83ba' }).addTo(app.map);
          app.meMarker = L.marker(ll, { icon: L.divIcon({ className: 'me-dot', iconSize: [14, 14] }), title: '我的位置' }).addTo(app.map);
        } else { app.meMarker.setLatLng(ll); app.meCircle.setLatLng(ll).setRadius(p.coords.accuracy); }
      }
    }, function (e) {
      $('gps').textContent = '无法定位：' + (e.code === 1 ? '未允许定位' : e.message);
    }, { enableHighAccuracy: true, maximumAge: 10000, timeout: 30000 });
  }

  function stopWatching() {
    if (app.watch !== null) { navigator.geolocation.clearWatch(app.watch); app.watch = null; }
    app.meMarker = null; app.meCircle = null;
  }

  // --- household: card and visit form ----------------------------------------------------

  function label(set, code) {  // Chinese labels of coded values, from the package
    return (app.pkg.labels[set] || {})[code] || code;
  }

  function facts(h) {
    var rows = [['户编号', h.household_no], ['户主', h.head_name], ['电话', h.phone],
      ['村', h.village_name + (h.hamlet_name ? ' · ' + h.hamlet_name : '')],
      ['类别', h.labels.category], ['状态', h.labels.status + (h.exit_year ? '（' + h.exit_year + ' 年脱贫）' : '')],
      ['致贫原因', h.labels.main_cause], ['人口', h.members + ' 人，劳动力 ' + h.labour_members + ' 人'],
      ['住房', h.labels.housing_status]];
    if (h.income !== null && h.income !== undefined) { rows.push(['人均纯收入', h.income + ' 元（' + h.income_year + '）']); }
    rows.push(['帮扶责任人', (h.cadre_name || '无') + (h.cadre_phone ? ' ' + h.cadre_phone : '')]);
    rows.push(['最近帮扶', h.help_date ? h.help_date + ' ' + (h.labels.help_measure || '') + (h.help_note ? '：' + h.help_note : '') : '无记录']);
    var table = el('table', { class: 'facts' });
    rows.forEach(function (r) {
      if (r[1] !== null && r[1] !== undefined) { table.appendChild(el('tr', {}, [el('th', { text: r[0] }), el('td', { text: String(r[1]) })])); }
    });
    var year = new Date().getFullYear();
    var people = el('table', { class: 'facts' });
    h.people.forEach(function (m) {
      var age = m.birth_year ? (year - m.birth_year) + ' 岁' : '';
      var about = [label('relation', m.relation), m.sex === 'F' ? '女' : '男', age,
        m.health ? label('health', m.health) : '', m.labour_capacity ? label('labour_capacity', m.labour_capacity) : '',
        m.schooling ? label('schooling', m.schooling) : ''];
      people.appendChild(el('tr', {}, [el('th', { text: m.name }), el('td', { text: about.filter(Boolean).join(' · ') })]));
    });
    return [el('h2', { text: '核对登记信息' }), table, el('h2', { text: '家庭成员' }), people];
  }

  function openHousehold(h) {
    app.household = h;
    show('household', h.head_name + ' · ' + h.household_no, function () { openPlan(app.pkg.plan.id); });
    var card = $('card'); card.textContent = '';
    facts(h).forEach(function (n) { card.appendChild(n); });
    app.db.getFromIndex('drafts', 'plan_household', [app.pkg.plan.id, h.household_id]).then(function (draft) {
      app.draft = draft || { client_id: uuid(), plan_id: app.pkg.plan.id, household_id: h.household_id,
        household_version: h.version, started_at: nowIso(), checks: {}, state: null };
      fillForm(app.draft);
    });
  }

  function fillForm(d) {
    var box = $('checks'); box.textContent = '';
    CHECK_ORDER.forEach(function (k) {
      var name = 'check-' + k;
      var yes = el('input', { type: 'radio', name: name, value: 'yes' });
      var no = el('input', { type: 'radio', name: name, value: 'no' });
      if (d.checks[k] === true) { yes.checked = true; } else if (d.checks[k] === false) { no.checked = true; }
      box.appendChild(el('div', { class: 'check', 'data-check': k }, [el('span', { text: app.pkg.checks[k] }),
        el('span', { class: 'opts' }, [el('label', {}, [yes, document.createTextNode(' 是')]),
          el('label', {}, [no, document.createTextNode(' 否')])])]));
    });
    var result = $('result'); result.textContent = '';
    Object.keys(app.pkg.results).forEach(function (k) { result.appendChild(el('option', { value: k, text: app.pkg.results[k] })); });
    result.value = d.result || 'confirmed';
    $('notes').value = d.notes || '';
    $('photo').value = '';
    $('photo-msg').textContent = d.photo_sha256 ? '已附照片（' + Math.round(d.photo_bytes / 1024) + ' KB）' : '';
    showPreview(d.photo_sha256);
    $('fix').textContent = app.position ? '定位：±' + Math.round(app.position.accuracy_m) + ' m' : '定位：等待 GPS…';
    var conflict = d.state === 'conflict' || d.state === 'refused';
    $('conflict').hidden = !conflict;
    $('conflict').textContent = conflict ? d.message + describeCurrent(d) : '';
    $('accept').hidden = !(d.state === 'conflict' && d.current);
    $('save-msg').textContent = d.state === 'synced' ? '已同步：' + (d.message || '') : d.state === 'draft' ? '草稿已保存，待同步' : '';
    $('save').disabled = d.state === 'synced';
    if (!app.watch) { watchPosition(); }
  }

  function describeCurrent(d) {
    if (!d.current) { return ''; }
    var h = app.household; var c = d.current; var parts = [];
    if (c.members !== h.members) { parts.push('人口 ' + h.members + '→' + c.members); }
    if (c.labour_members !== h.labour_members) { parts.push('劳动力 ' + h.labour_members + '→' + c.labour_members); }
    if (c.housing_status !== h.housing_status) { parts.push('住房 ' + label('housing_status', h.housing_status) + '→' + label('housing_status', c.housing_status)); }
    if (c.status !== h.status) { parts.push('状态 ' + label('status', h.status) + '→' + label('status', c.status)); }
    if (c.category !== h.category) { parts.push('类别 ' + label('category', h.category) + '→' + label('category', c.category)); }
    return parts.length ? '（' + parts.join('，') + '）' : '';
  }

  function showPreview(sha) {
    var img = $('photo-preview');
    if (!sha) { img.hidden = true; img.removeAttribute('src'); return; }
    app.db.get('photos', sha).then(function (p) {
      if (p) { img.src = URL.createObjectURL(p.blob); img.hidden = false; }
    });
  }

  function compress(file) {
    if (file.size > MAX_ORIGINAL_MB * 1e6) {
      return Promise.reject(new Error('照片原图 ' + (file.size / 1e6).toFixed(1) + ' MB，超过 ' + MAX_ORIGINAL_MB + ' MB 上限：请降低相机分辨率后重拍'));
    }
    return createImageBitmap(file).then(function (bitmap) {
      var scale = Math.min(1, PHOTO_LONG_SIDE / Math.max(bitmap.width, bitmap.height));
      var canvas = document.createElement('canvas');
      canvas.width = Math.round(bitmap.width * scale); canvas.height = Math.round(bitmap.height * scale);
      canvas.getContext('2d').drawImage(bitmap, 0, 0, canvas.width, canvas.height);
      var encode = function (quality) {
        return new Promise(function (resolve) { canvas.toBlob(resolve, 'image/jpeg', quality); });
      };
      return encode(0.75).then(function (blob) {
        return blob.size > PHOTO_TARGET_KB * 1024 ? encode(0.5) : blob;
      });
    }, function () { throw new Error('无法读取这张照片（格式不支持？）'); }).then(function (blob) {
      return blob.arrayBuffer().then(function (bytes) { return crypto.subtle.digest('SHA-256', bytes); })
        .then(function (digest) {
          var sha = Array.prototype.map.call(new Uint8Array(digest), function (x) { return (x + 256).toString(16).slice(1); }).join('');
          return { sha256: sha, blob: blob, type: 'image/jpeg', original: file.size };
        });
    });
  }

  function onPhoto() {
    var file = $('photo').files[0];
    if (!file) { return; }
    $('photo-msg').textContent = '压缩中…';
    compress(file).then(function (p) {
      return app.db.put('photos', p).then(function () {
        app.draft.photo_sha256 = p.sha256; app.draft.photo_bytes = p.blob.size;
        $('photo-msg').textContent = '照片已压缩：' + (p.original / 1e6).toFixed(1) + ' MB → ' + Math.round(p.blob.size / 1024) + ' KB';
        showPreview(p.sha256);
      });
    }).catch(function (e) { $('photo').value = ''; $('photo-msg').textContent = e.message; });
  }

  function saveVisit(event) {
    event.preventDefault();
    var d = app.draft;
    CHECK_ORDER.forEach(function (k) {
      var picked = document.querySelector('input[name="check-' + k + '"]:checked');
      d.checks[k] = picked ? picked.value === 'yes' : null;
    });
    d.result = $('result').value;
    d.notes = $('notes').value.trim() || null;
    d.position = app.position && (Date.now() - app.position.at < 120000)
      ? { lon: app.position.lon, lat: app.position.lat, accuracy_m: app.position.accuracy_m } : null;
    d.recorded_at = nowIso();
    if (d.state !== 'conflict' || d.accept_version) { d.state = 'draft'; }
    app.db.put('drafts', d).then(function () {
      $('save-msg').textContent = '草稿已保存' + (d.position ? '' : '（无定位）') + '，待同步';
      refreshPending();
    });
  }

  function acceptCurrent() {
    var d = app.draft;
    d.accept_version = d.current.version; d.state = 'draft';
    app.db.put('drafts', d).then(function () {
      $('accept').hidden = true; $('conflict').hidden = true;
      $('save-msg').textContent = '已确认：下次同步时提交';
      refreshPending();
    });
  }

  // --- sync ------------------------------------------------------------------------------

  function refreshPending() {
    return draftsOf().then(function (all) {
      var waiting = all.filter(function (d) { return d.state === 'draft'; }).length;
      $('pending').textContent = waiting;
      return waiting;
    });
  }

  function payload(d) {
    return { client_id: d.client_id, plan_id: d.plan_id, household_id: d.household_id,
      household_version: d.household_version, result: d.result, checks: d.checks, notes: d.notes,
      position: d.position, started_at: d.started_at, recorded_at: d.recorded_at,
      sent_at: nowIso(), photo_sha256: d.photo_sha256 || null, accept_version: d.accept_version || null };
  }

  function uploadPhoto(d) {
    if (!d.photo_sha256) { return Promise.resolve(); }
    return app.db.get('photos', d.photo_sha256).then(function (p) {
      if (!p) { throw new Error('照片在手机上丢失：请重新拍照'); }
      return api('/field/api/photos/' + p.sha256, { method: 'PUT', body: p.blob, headers: { 'Content-Type': p.type } });
    });
  }

  function syncOne(d) {
    return uploadPhoto(d).then(function () {
      return api('/field/api/visits', { method: 'POST', body: JSON.stringify(payload(d)),
        headers: { 'Content-Type': 'application/json' } });
    }).then(function (answer) {
      d.message = answer.message + (answer.warnings.length ? '；' + answer.warnings.join('；') : '');
      d.state = answer.status === 'stored' || answer.status === 'duplicate' ? 'synced' : answer.status;
      d.visit_id = answer.visit_id; d.current = answer.current; d.flags = answer.flag_labels;
      return app.db.put('drafts', d).then(function () { return answer; });
    }, function (e) {
      if (e.unauthorized || e.offline) { throw e; }
      d.state = 'refused'; d.message = e.message;  // this visit only; the rest go on
      return app.db.put('drafts', d).then(function () { return { status: 'refused', message: e.message }; });
    });
  }

  function sync() {
    var bar = $('sync-progress'); var msg = $('sync-msg');
    return draftsOf().then(function (all) {
      var queue = all.filter(function (d) { return d.state === 'draft'; })
        .sort(function (a, b) { return a.recorded_at < b.recorded_at ? -1 : 1; });  // as recorded
      if (!queue.length) { msg.textContent = '没有待同步的走访'; return; }
      bar.hidden = false; bar.max = queue.length; bar.value = 0;
      var counts = { stored: 0, duplicate: 0, conflict: 0, refused: 0 }; var notes = [];
      $('sync').disabled = true;
      var step = function (i) {
        if (i >= queue.length) { return Promise.resolve(); }
        msg.textContent = '同步中 ' + (i + 1) + '/' + queue.length + '…';
        return syncOne(queue[i]).then(function (answer) {
          counts[answer.status] += 1; bar.value = i + 1;
          if (answer.status !== 'stored' && answer.status !== 'duplicate' || (answer.flags || []).length) { notes.push(answer.message); }
          return step(i + 1);
        });
      };
      return step(0).then(function () {
        msg.textContent = '同步完成：新保存 ' + counts.stored + '，已存在 ' + counts.duplicate + '，冲突 ' +
          counts.conflict + '，未保存 ' + counts.refused + (notes.length ? '。' + notes.join('；') : '');
      }, function (e) {
        msg.textContent = e.message + '。已同步 ' + bar.value + '/' + queue.length + '，其余草稿保留，稍后继续';
        if (e.unauthorized) { localStorage.removeItem(TOKEN_KEY); app.token = null; }
      }).then(function () { $('sync').disabled = false; refreshPending(); renderOffline(); });
    });
  }

  // --- start -----------------------------------------------------------------------------

  function start() {
    updateNet();
    window.addEventListener('online', updateNet);
    window.addEventListener('offline', updateNet);
    $('login-go').onclick = login;
    $('sync').onclick = function () {
      if (!app.token) { showLogin('请先登录再同步：草稿已保留'); return; }
      sync();
    };
    $('logout').onclick = function (e) { e.preventDefault(); localStorage.removeItem(TOKEN_KEY); app.token = null; showLogin(); };
    $('visit-form').onsubmit = saveVisit;
    $('photo').onchange = onPhoto;
    $('accept').onclick = acceptCurrent;
    if ('serviceWorker' in navigator) {
      navigator.serviceWorker.register('/field/sw.js', { scope: '/field/' }).catch(function (e) {
        $('note').textContent = '离线功能不可用：' + e.message;
      });
    }
    openDb().then(function (db) {
      app.db = db;
      app.token = localStorage.getItem(TOKEN_KEY);
      try { app.me = JSON.parse(localStorage.getItem(TOKEN_KEY + '.me')); } catch (e) { app.me = null; }
      if (app.token) { showHome(); } else { showLogin(); }
    });
  }

  window.gongjianField = { app: app, sync: sync, refreshPending: refreshPending };
  start();
}());
