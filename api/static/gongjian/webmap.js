/* 攻坚图 web map: login, township selector, vector-tile layers, popups, legend, downloads.
 *
 * The page (maps/webmap.py) has no inline script: its configuration is the JSON block
 * #gj-config, from which boot() builds the map and calls gongjian.start(map, config). Every
 * request goes to this server with the caller's bearer token; nothing is fetched from
 * anywhere else. A login link (#token=…, printed by `gongjian demo --serve`) logs in once;
 * the fragment never reaches the server and is removed from the address bar at once.
 */
(function () {
  'use strict';

  var TOKEN_KEY = 'gongjian.token';
  var COLORS = {
    status: { poor: '#d7191c', returned: '#6a1b9a', exited: '#1b9e77' },  // maps/palette.py
    road_class: {
      national: '#c51b1b', provincial: '#e6550d', county: '#f59f00',
      township: '#8c6d31', village: '#7f7f7f'
    },
    hazard_level: { high: '#de2d26', medium: '#fc9272', low: '#fee0d2' },
    point: { clinic: '#e7298a', water: '#1f78b4', school: '#33a02c', hamlet: '#555555' }
  };
  var DASH = { hardened: null, gravel: '6 3', earth: '2 4' };
  var HOUSEHOLD_FIELDS = [
    ['household_no', '户编号'], ['head_name', '户主'], ['id_number', '身份证号'], ['phone', '电话'],
    ['members', '人口'], ['labour_members', '劳动力'], ['category', '类别', 'category'],
    ['main_cause', '主要致贫原因', 'cause'], ['secondary_cause', '次要致贫原因', 'cause'],
    ['housing_status', '住房', 'housing_status'], ['status', '状态', 'status'],
    ['exit_year', '脱贫年份'], ['income', '人均收入（元）'], ['income_year', '收入年份'],
    ['cadre_id', '帮扶责任人编号'], ['village_code', '行政村代码']
  ];

  // facts a list may leave out: shown as unknown, never left out or guessed
  var UNKNOWN_FACTS = { members: 1, labour_members: 1, category: 1, main_cause: 1,
    housing_status: 1 };
  var state = null;

  // Leaflet 1.9 treats any clicked layer with getLatLng() and a small radius as a marker and
  // asks it for its position; VectorGrid's point symbolizers live in tile pixels and have
  // none, so the click would throw. Without getLatLng, Leaflet takes the mouse position.
  var createLayer = L.VectorGrid.prototype._createLayer;
  L.VectorGrid.prototype._createLayer = function () {
    var layer = createLayer.apply(this, arguments);
    if (layer.getLatLng && !layer._latlng) { layer.getLatLng = null; }
    return layer;
  };

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === 'text') { node.textContent = attrs[k]; } else { node.setAttribute(k, attrs[k]); }
    });
    (children || []).forEach(function (c) { node.appendChild(c); });
    return node;
  }

  function label(set, code) {
    var values = state.config.labels[set] || {};
    return values[code] || code;
  }

  function api(path) {
    return fetch(path, { headers: { Authorization: 'Bearer ' + state.token } }).then(function (r) {
      if (!r.ok) {
        var error = new Error(path + ': HTTP ' + r.status);
        error.status = r.status;
        throw error;
      }
      return r.json();
    });
  }

  function query(params) {
    var parts = Object.keys(params).filter(function (k) { return params[k]; }).map(function (k) {
      return encodeURIComponent(k) + '=' + encodeURIComponent(params[k]);
    });
    return parts.length ? '?' + parts.join('&') : '';
  }

  // --- the panel: login, township, filters, downloads --------------------------------------

  function buildPanel() {
    var panel = L.control({ position: 'topright' });
    panel.onAdd = function () {
      var div = el('div', { class: 'gj-panel', id: 'gj-panel' });
      L.DomEvent.disableClickPropagation(div);
      L.DomEvent.disableScrollPropagation(div);
      return div;
    };
    panel.addTo(state.map);
    state.panel = document.getElementById('gj-panel');
  }

  function showLogin(message) {
    var p = state.panel;
    p.innerHTML = '';
    p.appendChild(el('h3', { text: state.config.title }));
    var input = el('input', { id: 'gj-token', type: 'password', placeholder: '访问令牌 token',
      autocomplete: 'current-password' });
    var button = el('button', { id: 'gj-login', type: 'submit', text: '登录 Log in' });
    var form = el('form', { id: 'gj-login-form' }, [input, button]);
    p.appendChild(form);
    if (message) { p.appendChild(el('div', { class: 'gj-error', text: message })); }
    p.appendChild(el('div', { class: 'gj-note', text: state.config.note }));
    form.addEventListener('submit', function (e) { e.preventDefault(); login(input.value.trim()); });
  }

  function login(token) {
    state.token = token;
    return api('/me').then(function (me) {
      localStorage.setItem(TOKEN_KEY, token);
      state.me = me;
      showSession();
      buildLayers();
      return loadAreas();
    }).catch(function (error) {
      localStorage.removeItem(TOKEN_KEY);
      showLogin(error.status === 401 ? '令牌无效 invalid token' : String(error));
    });
  }

  function logout() {
    localStorage.removeItem(TOKEN_KEY);
    window.location.reload();
  }

  function select(id, caption, options, onChange) {
    var s = el('select', { id: id });
    options.forEach(function (o) { s.appendChild(el('option', { value: o[0], text: o[1] })); });
    s.addEventListener('change', function () { onChange(s.value); });
    return el('label', { class: 'gj-row' }, [el('span', { text: caption }), s]);
  }

  function vocabOptions(set, allText) {
    var values = state.config.labels[set] || {};
    return [['', allText]].concat(Object.keys(values).map(function (k) { return [k, values[k]]; }));
  }

  function showSession() {
    var p = state.panel;
    var me = state.me;
    p.innerHTML = '';
    p.appendChild(el('h3', { text: state.config.title }));
    p.appendChild(el('div', { class: 'gj-user', id: 'gj-user',
      text: me.name + ' · ' + label('role', me.role) + ' · ' + (me.scope_name || me.scope) }));
    p.appendChild(select('gj-township', '乡镇', [['', '（全部）']], chooseTownship));
    p.appendChild(select('gj-category', '类别', vocabOptions('category', '全部类别'), function (v) {
      state.filters.category = v; refreshHouseholds();
    }));
    p.appendChild(select('gj-cause', '致贫原因', vocabOptions('cause', '全部原因'), function (v) {
      state.filters.cause = v; refreshHouseholds();
    }));
    p.appendChild(el('div', { class: 'gj-downloads', id: 'gj-downloads' }));
    p.appendChild(el('div', { class: 'gj-siting', id: 'gj-siting' }));
    var out = el('button', { type: 'button', id: 'gj-logout', text: '退出 Log out' });
    out.addEventListener('click', logout);
    p.appendChild(out);
    p.appendChild(el('div', { class: 'gj-note', text: state.config.note }));
  }

  function loadAreas() {
    return api('/collections/township/items?limit=100&properties=code,name').then(function (fc) {
      var s = document.getElementById('gj-township');
      fc.features.forEach(function (f) {
        s.appendChild(el('option', { value: f.id, text: f.properties.name + ' ' + f.id }));
      });
      var wanted = state.config.township;
      if (!wanted && fc.features.length === 1) { wanted = fc.features[0].id; }
      if (wanted) { s.value = wanted; return chooseTownship(wanted); }
      return fitScope();
    });
  }

  function fitScope() {
    var level = { 6: 'county', 9: 'township', 12: 'village' }[state.me.scope.length];
    return api('/collections/' + level + '/items/' + state.me.scope).then(fitFeature).catch(function () {});
  }

  function fitFeature(feature) {
    state.map.fitBounds(L.geoJSON(feature).getBounds(), { padding: [10, 10], animate: false });
  }

  function chooseTownship(code) {
    state.filters.township = code;
    refreshHouseholds();
    showDownloads(code);
    showSiting(code);
    if (!code) { return fitScope(); }
    if (window.history && window.history.replaceState) {
      window.history.replaceState(null, '', '/townships/' + code);
    }
    return api('/collections/township/items/' + code).then(fitFeature).catch(function () {});
  }

  function download(path, filename) {
    fetch(path, { headers: { Authorization: 'Bearer ' + state.token } })
      .then(function (r) { if (!r.ok) { throw new Error('HTTP ' + r.status); } return r.blob(); })
      .then(function (blob) {
        var a = el('a', { href: URL.createObjectURL(blob), download: filename });
        document.body.appendChild(a);
        a.click();
        a.remove();
      })
      .catch(function (e) { window.alert('下载失败 ' + e); });
  }

  function showDownloads(code) {
    var box = document.getElementById('gj-downloads');
    box.innerHTML = '';
    if (!code) { return; }
    var links = [];
    state.config.wallmapFormats.forEach(function (fmt) {
      links.push(['攻坚图 ' + fmt.toUpperCase(), '/maps/townships/' + code + '/gongjian.' + fmt,
        'gongjian-' + code + '.' + fmt]);
    });
    links.push(['贫困户 GeoJSON', '/collections/household/items?limit=10000&township=' + code,
      'households-' + code + '.geojson']);
    links.push(['行政村 GeoJSON', '/collections/village/items?limit=1000&township=' + code,
      'villages-' + code + '.geojson']);
    box.appendChild(el('div', { text: '下载 Downloads' }));
    links.forEach(function (l) {
      var a = el('a', { href: '#', class: 'gj-download', text: l[0] });
      a.addEventListener('click', function (e) { e.preventDefault(); download(l[1], l[2]); });
      box.appendChild(a);
    });
    box.appendChild(el('a', { href: '/dashboard?area=' + code, class: 'gj-download gj-dashboard',
      text: '进度看板 Dashboard' }));
  }

  // --- siting: where the next clinics, water points, schools go; roads to harden ---------

  var SITING = [['clinic', '卫生站', 'count', 3], ['water', '供水点', 'count', 3],
    ['school', '学校', 'count', 1], ['roads', '道路硬化(公里)', 'budget_km', 5]];

  function showSiting(code) {
    var box = document.getElementById('gj-siting');
    box.innerHTML = '';
    clearSiting();
    if (!code) { return; }
    var kind = el('select', { id: 'gj-siting-kind' });
    SITING.forEach(function (k) { kind.appendChild(el('option', { value: k[0], text: k[1] })); });
    var amount = el('input', { id: 'gj-siting-amount', type: 'number', min: '1', step: 'any',
      value: String(SITING[0][3]) });
    kind.addEventListener('change', function () {
      amount.value = String(sitingKind(kind.value)[3]);
    });
    var go = el('button', { type: 'button', id: 'gj-siting-run', text: '计算选址' });
    var result = el('div', { class: 'gj-siting-result', id: 'gj-siting-result' });
    go.addEventListener('click', function () { runSiting(code, kind.value, amount.value, result); });
    box.appendChild(el('div', { text: '规划选址 Siting' }));
    [kind, amount, go, result].forEach(function (n) { box.appendChild(n); });
  }

  function sitingKind(kind) {
    return SITING.filter(function (k) { return k[0] === kind; })[0];
  }

  function clearSiting() {
    if (state.siting) {
      state.map.removeLayer(state.siting);
      if (state.control) { state.control.removeLayer(state.siting); }
      state.siting = null;
    }
  }

  function runSiting(code, kind, amount, result) {
    var k = sitingKind(kind);
    var path = '/analysis/siting/' + kind + '?township=' + code + '&' + k[2] + '=' +
      encodeURIComponent(amount);
    result.textContent = '计算中…';
    api(path).then(function (body) {
      clearSiting();
      state.siting = L.geoJSON(body.sites, {
        pointToLayer: function (f, latlng) {
          return L.circleMarker(latlng, { radius: 9, color: '#ffffff', weight: 2, fillOpacity: 0.95,
            fillColor: '#ff7f00', className: 'gj-siting-site' });
        },
        style: function () { return { color: '#ff7f00', weight: 6, opacity: 0.9, className: 'gj-siting-road' }; },
        onEachFeature: function (f, layer) {
          var p = f.properties;
          var rows = [['序号', p.order], ['选址', p.site], ['新覆盖户数', p.households],
            ['其中未脱贫户', p.poor_households]];
          if (p.km !== undefined) { rows.push(['里程(公里)', p.km], ['200人以上自然村', p.hamlets_200]); }
          layer.bindPopup(table(rows));
          layer.bindTooltip(String(p.order), { permanent: true, direction: 'center',
            className: 'gj-siting-label' });
        }
      }).addTo(state.map);
      if (state.control) { state.control.addOverlay(state.siting, '选址结果 Siting'); }
      var bounds = state.siting.getBounds();
      if (bounds.isValid()) { state.map.fitBounds(bounds, { padding: [40, 40], maxZoom: 15 }); }
      var state_ = body.optimal ? '已证明最优' : '差距 ' + (body.gap * 100).toFixed(2) + '%';
      result.innerHTML = '';
      result.appendChild(el('div', { text: '新覆盖 ' + body.households_covered + ' / ' +
        body.demand_households + ' 户（' + state_ + '）' +
        (body.cost_km !== null ? '，' + body.cost_km.toFixed(2) + ' 公里' : '') }));
      var a = el('a', { href: '#', class: 'gj-download', text: '选址结果 XLSX' });
      a.addEventListener('click', function (e) {
        e.preventDefault();
        download(path + '&format=xlsx', 'siting-' + kind + '-' + code + '.xlsx');
      });
      result.appendChild(a);
    }).catch(function (error) { result.textContent = '选址失败 ' + error; });
  }

  // --- vector-tile layers --------------------------------------------------------------

  function layerInfo(id) {
    for (var i = 0; i < state.config.layers.length; i++) {
      if (state.config.layers[i].id === id) { return state.config.layers[i]; }
    }
    return null;
  }

  function tileUrl(id, params) {
    return '/tiles/' + id + '/{z}/{x}/{y}.mvt' + query(params || {});
  }

  function vectorLayer(id, params, style, pane) {
    var info = layerInfo(id);
    if (!info) { return null; }
    var styles = {};
    styles[id] = style;
    var layer = L.vectorGrid.protobuf(tileUrl(id, params), {
      rendererFactory: L.svg.tile,
      interactive: true,
      vectorTileLayerStyles: styles,
      fetchOptions: { headers: { Authorization: 'Bearer ' + state.token } },
      minZoom: Math.max(info.min_zoom, 6),
      maxNativeZoom: 18,
      pane: pane || 'overlayPane',
      attribution: state.config.note
    });
    layer.on('click', function (e) { openPopup(id, e); });
    layer.gjId = id;
    layer.gjParams = params || {};
    return layer;
  }

  function householdStyle(status) {
    return function (p, z) {
      if (p.count !== undefined) {
        return { radius: Math.min(4 + Math.sqrt(p.count) * 1.6, 20), fill: true, fillOpacity: 0.75,
          fillColor: COLORS.status[status], color: '#ffffff', weight: 1,
          className: 'gj-household gj-cluster' };
      }
      return { radius: z >= 15 ? 5 : 4, fill: true, fillOpacity: 0.9, fillColor: COLORS.status[status],
        color: p.scattered ? '#000000' : '#ffffff', weight: 1, className: 'gj-household' };
    };
  }

  function pointStyle(color, radius, cls) {
    return function () {
      return { radius: radius, fill: true, fillOpacity: 0.9, fillColor: color, color: '#ffffff',
        weight: 1, className: cls };
    };
  }

  function buildLayers() {
    var map = state.map;
    if (!map.getPane('gjPolygons')) {
      map.createPane('gjPolygons').style.zIndex = 350;
      map.createPane('gjLines').style.zIndex = 380;
      map.createPane('gjPoints').style.zIndex = 420;
    }
    var defs = [
      ['喀斯特（石灰岩）区', vectorLayer('karst_zone', {}, function () {
        return { fill: true, fillColor: '#969696', fillOpacity: 0.25, color: '#737373', weight: 1,
          dashArray: '4 3' };
      }, 'gjPolygons'), false],
      ['地质灾害区', vectorLayer('hazard_zone', {}, function (p) {
        return { fill: true, fillColor: COLORS.hazard_level[p.level] || '#fc9272', fillOpacity: 0.35,
          color: '#de2d26', weight: 0.5 };
      }, 'gjPolygons'), false],
      // boundary_derived: an outline derived from household points (示意界线), drawn dashed
      ['乡镇界', vectorLayer('township', {}, function (p) {
        return { fill: false, color: '#3f007d', weight: 3, opacity: 0.8, className: 'gj-township',
          dashArray: p.boundary_derived ? '8 5' : null };
      }, 'gjLines'), true],
      ['行政村', vectorLayer('village', {}, function (p) {
        return { fill: !!p.key_level, fillColor: '#ffeda0', fillOpacity: 0.25, color: '#54278f',
          weight: 1.2, className: 'gj-village', dashArray: p.boundary_derived ? '5 4' : null };
      }, 'gjPolygons'), true],
      ['干部包片', vectorLayer('cadre_sector', {}, function () {
        return { fill: true, fillColor: '#807dba', fillOpacity: 0.08, color: '#6a51a3', weight: 1,
          dashArray: '3 3' };
      }, 'gjPolygons'), false],
      ['河流', vectorLayer('river', {}, function (p) {
        return { color: '#4a90d9', weight: Math.min(0.6 + (p.order || 1) * 0.6, 4), opacity: 0.9 };
      }, 'gjLines'), true],
      ['道路：国道/省道', vectorLayer('road', { road_class: 'national,provincial' }, roadStyle, 'gjLines'), true],
      ['道路：县道/乡道', vectorLayer('road', { road_class: 'county,township' }, roadStyle, 'gjLines'), true],
      ['道路：村道', vectorLayer('road', { road_class: 'village' }, roadStyle, 'gjLines'), true],
      ['自然村', vectorLayer('hamlet', {}, pointStyle(COLORS.point.hamlet, 2.5, 'gj-hamlet'), 'gjPoints'), false],
      ['卫生站/院', vectorLayer('clinic', {}, pointStyle(COLORS.point.clinic, 5, 'gj-clinic'), 'gjPoints'), true],
      ['供水', vectorLayer('water', {}, function () {
        return { radius: 4, fill: true, fillColor: COLORS.point.water, fillOpacity: 0.6,
          color: '#1f78b4', weight: 1 };
      }, 'gjPoints'), false],
      ['学校', vectorLayer('school', {}, pointStyle(COLORS.point.school, 4, 'gj-school'), 'gjPoints'), false],
      // a ring round the flagged household: its own dot keeps showing its status colour
      ['预警', vectorLayer('flag', {}, function () {
        return { radius: 8, fill: false, color: '#111111', weight: 2, className: 'gj-flag' };
      }, 'gjPoints'), false],
      ['整体搬迁/插花搬迁范围', vectorLayer('relocation_group', {}, function (p) {
        return { fill: true, fillColor: '#fdb863', fillOpacity: 0.2, color: '#e66101', weight: 2,
          dashArray: p.relocation === 'whole' ? '6 3' : '2 3', className: 'gj-relocation-group' };
      }, 'gjPolygons'), false],
      ['安置点', vectorLayer('relocation_site', {}, function () {
        return { fill: true, fillColor: '#a6dba0', fillOpacity: 0.4, color: '#1b7837', weight: 1.5,
          className: 'gj-relocation-site' };
      }, 'gjPolygons'), false],
      ['搬迁对象', vectorLayer('relocation_candidate', {}, pointStyle('#e66101', 6, 'gj-relocation'),
        'gjPoints'), false],
      // what-if scenarios: proposed roads dashed, roads to harden thick, new facilities ringed
      ['规划方案 Scenarios', vectorLayer('scenario_change', {}, function (p) {
        if (p.kind === 'road') { return { color: '#7b3294', weight: 4, dashArray: '8 4', className: 'gj-scenario' }; }
        if (p.kind === 'harden') { return { color: '#ff7f00', weight: 6, opacity: 0.8, className: 'gj-scenario' }; }
        return { radius: 7, fill: true, fillOpacity: 0.9, color: '#7b3294', weight: 3,
          fillColor: COLORS.point[p.kind] || '#ffffff', className: 'gj-scenario' };
      }, 'gjPoints'), false]
    ];
    state.households = [];
    ['poor', 'returned', 'exited'].forEach(function (status) {
      var layer = vectorLayer('household', householdFilters(status), householdStyle(status), 'gjPoints');
      if (layer) {
        layer.gjStatus = status;
        state.households.push(layer);
        defs.push(['贫困户：' + label('status', status), layer, status !== 'exited']);
      }
    });
    var styled = {};
    defs.forEach(function (d) { if (d[1]) { styled[d[1].gjId] = true; } });
    ['household', 'county', 'raster'].forEach(function (id) { styled[id] = true; });
    state.config.layers.forEach(function (info) {
      if (!styled[info.id]) {
        defs.push([info.title, vectorLayer(info.id, {}, genericStyle(info), 'gjPoints'), false]);
      }
    });
    var overlays = {};
    defs.forEach(function (d) {
      if (!d[1]) { return; }
      overlays[d[0]] = d[1];
      if (d[2]) { d[1].addTo(map); }
    });
    map.eachLayer(function (l) {
      if (l instanceof L.ImageOverlay) { overlays['地形晕渲（DEM）'] = l; }
    });
    (state.config.online || []).forEach(function (t) {
      overlays[t.name] = L.tileLayer(t.url, { attribution: t.attribution || t.name, zIndex: 0 });
    });
    state.control = L.control.layers({}, overlays, { collapsed: false, position: 'topleft' }).addTo(map);
    buildLegend();
  }

  function roadStyle(p) {
    return { color: COLORS.road_class[p.road_class] || '#999', opacity: 0.95,
      weight: { national: 3.5, provincial: 3, county: 2.4, township: 1.8, village: 1.2 }[p.road_class] || 1,
      dashArray: DASH[p.surface] || null };
  }

  // Layers the page has no special style for (analysis layers as they appear): plain symbols.
  function genericStyle(info) {
    if (info.geometry_type.indexOf('Point') >= 0) {
      return function () {
        return { radius: 3, fill: true, fillColor: '#636363', fillOpacity: 0.8, color: '#ffffff', weight: 0.5 };
      };
    }
    return function () { return { color: '#636363', weight: 1, fill: true, fillOpacity: 0.1 }; };
  }

  function householdFilters(status) {
    return { status: status, township: state.filters.township, category: state.filters.category,
      cause: state.filters.cause };
  }

  function refreshHouseholds() {
    (state.households || []).forEach(function (layer) {
      layer.setUrl(tileUrl('household', householdFilters(layer.gjStatus)));
    });
  }

  // --- popups -------------------------------------------------------------------------

  function table(rows) {
    var t = el('table', { class: 'gj-popup-table' });
    rows.forEach(function (r) {
      t.appendChild(el('tr', {}, [el('th', { text: r[0] }), el('td', { text: r[1] })]));
    });
    return t;
  }

  function show(latlng, node) {
    L.popup({ maxWidth: 340 }).setLatLng(latlng).setContent(node).openOn(state.map);
  }

  function openPopup(id, e) {
    var p = (e.layer && e.layer.properties) || {};
    // vector-tile features are not map targets: their events carry no latlng of their own
    var latlng = e.latlng || state.map.mouseEventToLatLng(e.originalEvent);
    if (e.originalEvent) { L.DomEvent.stop(e.originalEvent); }
    e = { latlng: latlng };
    if (id === 'household' && p.count !== undefined) {
      show(e.latlng, el('div', { class: 'gj-popup', text: p.count + ' 户（未脱贫 ' + (p.poor || 0) +
        '，返贫 ' + (p.returned || 0) + '）· 放大查看每户' }));
      return;
    }
    if (id === 'household') {
      api('/collections/household/items/' + p.fid).then(function (f) {
        var props = f.properties;
        var rows = HOUSEHOLD_FIELDS.filter(function (r) {
          return UNKNOWN_FACTS[r[0]] || (props[r[0]] !== null && props[r[0]] !== undefined);
        }).map(function (r) {
          var v = props[r[0]];
          if (v === null || v === undefined) { return [r[1], '不详（名单未填）']; }
          return [r[1], r[2] ? label(r[2], v) : String(v)];
        });
        var node = el('div', { class: 'gj-popup gj-household-popup' }, [
          el('h4', { text: '建档立卡户 ' + props.household_no }), table(rows),
          el('div', { class: 'gj-note', text: state.config.note })
        ]);
        show(e.latlng, node);
      }).catch(function (error) { show(e.latlng, el('div', { text: String(error) })); });
      return;
    }
    if (id === 'visit') { visitPopup(p.fid, e.latlng); return; }
    var rows = Object.keys(p).filter(function (k) { return k !== 'fid'; }).map(function (k) {
      var set = { road_class: 'road_class', surface: 'surface', level: id === 'clinic' ? 'clinic_level' :
        id === 'school' ? 'school_level' : 'hazard_level', kind: id === 'water' ? 'water_kind' : 'hazard_kind',
        key_level: 'key_level' }[k];
      return [k, set ? label(set, p[k]) : String(p[k])];
    });
    var info = layerInfo(id);
    show(e.latlng, el('div', { class: 'gj-popup' }, [el('h4', { text: info ? info.title : id }), table(rows)]));
  }

  // A visit: its result, findings, "not on site?" flags and the photo from the phone (fetched
  // with the token, shown from a blob: the photo endpoint needs the bearer token too).
  function visitPopup(fid, latlng) {
    api('/collections/visit/items/' + fid).then(function (f) {
      var p = f.properties;
      var flags = (p.flags || '').split(',').filter(Boolean).map(function (k) { return label('visit_flag', k); });
      var rows = [['日期', p.date], ['督查员', p.inspector], ['结果', label('visit_result', p.result)],
        ['情况', p.findings], ['疑似未到现场', flags.join('、')],
        ['距户', p.distance_m !== null && p.distance_m !== undefined ? p.distance_m + ' m' +
          (p.accuracy_m ? '（定位 ±' + Math.round(p.accuracy_m) + ' m）' : '') : null]
      ].filter(function (r) { return r[1]; });
      var node = el('div', { class: 'gj-popup gj-visit-popup' }, [el('h4', { text: '督查走访' }), table(rows)]);
      show(latlng, node);
      if (!p.photo_sha256) { return; }
      fetch('/field/photos/' + p.photo_sha256, { headers: { Authorization: 'Bearer ' + state.token } })
        .then(function (r) { if (!r.ok) { throw new Error('HTTP ' + r.status); } return r.blob(); })
        .then(function (blob) {
          var img = el('img', { class: 'gj-visit-photo', alt: '走访照片', title: 'SHA-256 ' + p.photo_sha256 });
          img.src = URL.createObjectURL(blob);
          img.style.maxWidth = '300px';
          node.appendChild(img);
        }).catch(function () { node.appendChild(el('div', { class: 'gj-note', text: '照片仅对可查看户信息的角色显示' })); });
    }).catch(function (error) { show(latlng, el('div', { text: String(error) })); });
  }

  // --- legend -------------------------------------------------------------------------

  function buildLegend() {
    var legend = L.control({ position: 'bottomright' });
    legend.onAdd = function () {
      var div = el('div', { class: 'gj-legend', id: 'gj-legend' });
      div.appendChild(el('h4', { text: '图例' }));
      Object.keys(COLORS.status).forEach(function (k) {
        div.appendChild(swatch('dot', COLORS.status[k], '贫困户 ' + label('status', k)));
      });
      Object.keys(COLORS.road_class).forEach(function (k) {
        div.appendChild(swatch('line', COLORS.road_class[k], label('road_class', k)));
      });
      div.appendChild(swatch('line dashed', '#555', '砂石/土路 (虚线)'));
      div.appendChild(swatch('line', '#4a90d9', '河流'));
      div.appendChild(swatch('dot', COLORS.point.clinic, '卫生站/院'));
      div.appendChild(swatch('dot', COLORS.point.school, '学校'));
      div.appendChild(swatch('area', '#fc9272', '地质灾害区'));
      div.appendChild(swatch('area', '#ffeda0', '省定贫困村'));
      div.appendChild(swatch('dot ring', '#111111', '预警（图层开启时）'));
      div.appendChild(swatch('dot', '#e66101', '搬迁对象'));
      div.appendChild(swatch('area', '#fdb863', '搬迁范围 / 安置点（绿）'));
      div.appendChild(el('div', { class: 'gj-note', text: state.config.note }));
      return div;
    };
    legend.addTo(state.map);
  }

  function swatch(kind, color, text) {
    var s = el('span', { class: 'gj-swatch ' + kind });
    var hollow = kind.indexOf('line') === 0 || kind.indexOf('ring') >= 0;
    s.style.background = hollow ? 'transparent' : color;
    s.style.borderColor = color;
    return el('div', { class: 'gj-legend-row' }, [s, el('span', { text: text })]);
  }

  // --- start --------------------------------------------------------------------------

  function tokenFromLink() {
    var match = /(?:^#|&)token=([^&]+)/.exec(window.location.hash || '');
    if (!match) { return null; }
    history.replaceState(null, '', window.location.pathname + window.location.search);
    return decodeURIComponent(match[1]);
  }

  function boot() {
    var block = document.getElementById('gj-config');
    if (!block) { return; }
    var config = JSON.parse(block.textContent);
    var map = L.map('gj-map', {
      center: config.centre, zoom: 10, minZoom: 6, maxZoom: 18, zoomControl: true
    });
    L.control.scale().addTo(map);
    if (config.hillshadeBounds) {
      L.imageOverlay(config.hillshadeUrl, config.hillshadeBounds,
        { opacity: 1.0, interactive: false, pane: 'tilePane' }).addTo(map);
    }
    window.gongjian.start(map, config);
  }

  window.gongjian = {
    start: function (map, config) {
      state = { map: map, config: config, token: null, filters: {}, households: [] };
      if (config.township) { state.filters.township = config.township; }
      if (config.colors) { COLORS.status = config.colors.status || COLORS.status; }
      map.attributionControl.setPrefix(false);
      map.attributionControl.addAttribution(config.note);
      buildPanel();
      var token = tokenFromLink() || localStorage.getItem(TOKEN_KEY);
      if (token) { login(token); } else { showLogin(); }
    },
    state: function () { return state; },
    openVisit: function (fid, latlng) { visitPopup(fid, L.latLng(latlng)); }
  };

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', boot);
  } else {
    boot();
  }
}());
