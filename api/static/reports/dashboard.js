/* The monitoring dashboard: progress over time, flags by kind, links into the map and lists.
 * Everything is fetched from this server with the caller's bearer token (the web map's login,
 * kept in localStorage), so scope and role apply as for any API client. Charts are plain SVG.
 */
(function () {
  'use strict';
  var TOKEN_KEY = 'gongjian.token';
  // the page's configuration: a JSON data block (the page has no inline script)
  var block = document.getElementById('gj-dashboard-config');
  var CONFIG = block ? JSON.parse(block.textContent) : { kinds: {}, status: {} };
  var COLOURS = { poor: '#d7191c', returned: '#6a1b9a', exited: '#1b9e77', target: '#555555' };
  var state = { token: null, me: null };

  function $(id) { return document.getElementById(id); }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function svg(tag, attrs) {
    var node = document.createElementNS('http://www.w3.org/2000/svg', tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    return node;
  }

  function api(path) {
    return fetch(path, { headers: { Authorization: 'Bearer ' + state.token } }).then(function (r) {
      if (!r.ok) {
        return r.json().catch(function () { return {}; }).then(function (body) {
          var error = new Error(body.description || ('HTTP ' + r.status));
          error.status = r.status;
          throw error;
        });
      }
      return r.json();
    });
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

  function showLogin(message) {
    $('gj-board').hidden = true;
    $('gj-login').hidden = false;
    $('gj-login-message').textContent = message || '';
    $('gj-login').querySelector('form').onsubmit = function (e) {
      e.preventDefault();
      login($('gj-token').value.trim());
    };
  }

  function login(token) {
    state.token = token;
    return api('/me').then(function (me) {
      state.me = me;
      localStorage.setItem(TOKEN_KEY, token);
      $('gj-login').hidden = true;
      $('gj-board').hidden = false;
      $('gj-who').textContent = me.name + ' · ' + me.role + ' · ' + (me.scope_name || me.scope);
      return loadAreas();
    }).catch(function (error) {
      localStorage.removeItem(TOKEN_KEY);
      showLogin(error.status === 401 ? '令牌无效 invalid token' : String(error));
    });
  }

  function loadAreas() {
    var select = $('gj-area');
    select.innerHTML = '';
    var scope = state.me.scope;
    if (scope.length === 6 || scope.length === 9) {
      select.appendChild(el('option', { value: scope }, state.me.scope_name || scope));
    }
    var county = scope.slice(0, 6);
    return api('/collections/township/items?limit=200&properties=code,name&county=' + county)
      .then(function (fc) {
        fc.features.forEach(function (f) {
          var code = f.properties.code;
          if (code !== scope && code.indexOf(scope) === 0) {
            select.appendChild(el('option', { value: code }, '· ' + f.properties.name));
          }
        });
      })
      .catch(function () {})
      .then(function () {
        // /dashboard?area=CODE (the web map links here) opens that township or county
        var wanted = new URLSearchParams(window.location.search).get('area');
        if (wanted && select.querySelector('option[value="' + wanted + '"]')) { select.value = wanted; }
        select.onchange = refresh;
        $('gj-refresh').onclick = refresh;
        return refresh();
      });
  }

  function query(params) {
    var parts = Object.keys(params).filter(function (k) { return params[k]; }).map(function (k) {
      return k + '=' + encodeURIComponent(params[k]);
    });
    return parts.length ? '?' + parts.join('&') : '';
  }

  function refresh() {
    var code = $('gj-area').value;
    if (!code) { return Promise.resolve(); }
    showLinks(code);
    var range = query({ start: $('gj-start').value, end: $('gj-end').value });
    var progress = api('/reports/progress/' + code + range).then(function (body) {
      var months = body.months || [];
      if (!$('gj-end').value && months.length) { $('gj-end').value = months[months.length - 1].month; }
      if (!$('gj-start').value && months.length) { $('gj-start').value = months[0].month; }
      drawCards(months);
      drawStatus(months);
      drawExits(months);
    }).catch(function (e) { $('gj-status').textContent = String(e); });
    var flags = api('/flags/summary/' + code).then(drawFlags)
      .catch(function (e) { $('gj-flags').textContent = String(e); });
    return Promise.all([progress, flags]);
  }

  function showLinks(code) {
    var links = $('gj-links');
    links.innerHTML = '';
    if (code.length === 9) {
      links.appendChild(el('a', { href: '/townships/' + code }, '地图'));
    } else {
      links.appendChild(el('a', { href: '/' }, '地图'));
    }
    var list = el('a', { href: '#' }, '预警列表');
    list.onclick = function (e) {
      e.preventDefault();
      var param = code.length === 9 ? 'township=' : 'county=';
      download('/flags?limit=10000&' + param + code, 'flags-' + code + '.json');
    };
    links.appendChild(list);
    ['xlsx', 'pdf'].forEach(function (fmt) {
      var a = el('a', { href: '#' }, '月报 ' + fmt.toUpperCase());
      a.onclick = function (e) {
        e.preventDefault();
        var month = $('gj-end').value;
        download('/reports/monthly/' + code + '.' + fmt + query({ month: month }),
          code + '_' + (month || 'latest') + '.' + fmt);
      };
      links.appendChild(a);
    });
  }

  function drawCards(months) {
    var cards = $('gj-cards');
    cards.innerHTML = '';
    if (!months.length) { return; }
    var last = months[months.length - 1];
    var items = [
      [CONFIG.status.poor || 'poor', last.poor_households, '户'],
      [CONFIG.status.exited || 'exited', last.exited_households, '户'],
      [CONFIG.status.returned || 'returned', last.returned_households, '户'],
      ['本年累计脱贫', last.exits_people_cumulative, '人'],
      ['本年目标', last.target_year_people, '人']
    ];
    items.forEach(function (item) {
      var card = el('div', { 'class': 'card' });
      card.appendChild(el('div', { 'class': 'label' }, item[0]));
      card.appendChild(el('div', { 'class': 'value' }, Number(item[1] || 0).toLocaleString() + item[2]));
      cards.appendChild(card);
    });
    cards.appendChild(el('div', { 'class': 'card asof' }, '截至 ' + last.month_end));
  }

  var W = 640, H = 240, PAD = { l: 48, r: 12, t: 12, b: 28 };

  function frame(target, maxValue, labels) {
    target.innerHTML = '';
    var root = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, 'class': 'chart' });
    var innerH = H - PAD.t - PAD.b;
    var ticks = 4;
    for (var i = 0; i <= ticks; i++) {
      var value = maxValue * i / ticks;
      var y = PAD.t + innerH - innerH * i / ticks;
      root.appendChild(svg('line', { x1: PAD.l, x2: W - PAD.r, y1: y, y2: y, 'class': 'grid' }));
      var t = svg('text', { x: PAD.l - 4, y: y + 3, 'text-anchor': 'end', 'class': 'tick' });
      t.textContent = Math.round(value).toLocaleString();
      root.appendChild(t);
    }
    var step = Math.max(1, Math.ceil(labels.length / 12));
    labels.forEach(function (label, i) {
      if (i % step) { return; }
      var t = svg('text', { x: xAt(i, labels.length), y: H - 8, 'text-anchor': 'middle', 'class': 'tick' });
      t.textContent = label;
      root.appendChild(t);
    });
    target.appendChild(root);
    return {
      root: root,
      y: function (v) { return PAD.t + innerH - innerH * (v / (maxValue || 1)); }
    };
  }

  function xAt(i, n) { return PAD.l + (W - PAD.l - PAD.r) * (i + 0.5) / Math.max(n, 1); }

  function line(chart, points, colour, dashed) {
    var d = points.map(function (p, i) { return (i ? 'L' : 'M') + p[0] + ',' + p[1]; }).join(' ');
    chart.root.appendChild(svg('path', { d: d, fill: 'none', stroke: colour, 'stroke-width': 2,
      'stroke-dasharray': dashed ? '5 4' : '' }));
  }

  function legend(target, items) {
    var box = el('div', { 'class': 'legend' });
    items.forEach(function (item) {
      var key = el('span', { 'class': 'key' });
      key.style.background = item[1];
      box.appendChild(key);
      box.appendChild(el('span', {}, item[0]));
    });
    target.appendChild(box);
  }

  function drawStatus(months) {
    var target = $('gj-status');
    var keys = ['poor', 'returned', 'exited'];
    var max = Math.max.apply(null, months.map(function (m) {
      return m.poor_households + m.returned_households + m.exited_households;
    }).concat([1]));
    var chart = frame(target, max * 1.05, months.map(function (m) { return m.month.slice(2); }));
    keys.forEach(function (k) {
      line(chart, months.map(function (m, i) {
        return [xAt(i, months.length), chart.y(m[k + '_households'])];
      }), COLOURS[k]);
    });
    legend(target, keys.map(function (k) { return [CONFIG.status[k] || k, COLOURS[k]]; }));
  }

  function drawExits(months) {
    var target = $('gj-exits');
    var max = Math.max.apply(null, months.map(function (m) {
      return Math.max(m.exits_people_cumulative, m.target_year_people);
    }).concat([1]));
    var chart = frame(target, max * 1.1, months.map(function (m) { return m.month.slice(2); }));
    var width = (W - PAD.l - PAD.r) / Math.max(months.length, 1) * 0.6;
    months.forEach(function (m, i) {
      var y = chart.y(m.exits_people);
      chart.root.appendChild(svg('rect', { x: xAt(i, months.length) - width / 2, y: y, width: width,
        height: Math.max(chart.y(0) - y, 0), fill: COLOURS.exited, opacity: 0.45 }));
    });
    line(chart, months.map(function (m, i) {
      return [xAt(i, months.length), chart.y(m.exits_people_cumulative)];
    }), COLOURS.exited);
    line(chart, months.map(function (m, i) {
      return [xAt(i, months.length), chart.y(m.target_year_people)];
    }), COLOURS.target, true);
    legend(target, [['当月脱贫人数', '#8fd0b8'], ['本年累计', COLOURS.exited],
      ['年度目标（seed 002）', COLOURS.target]]);
  }

  function drawFlags(body) {
    var target = $('gj-flags');
    target.innerHTML = '';
    var totals = {};
    (body.counts || []).forEach(function (c) { totals[c.kind] = (totals[c.kind] || 0) + c.flags; });
    var kinds = Object.keys(CONFIG.kinds);
    var max = Math.max.apply(null, kinds.map(function (k) { return totals[k] || 0; }).concat([1]));
    var table = el('table', { 'class': 'flags' });
    kinds.forEach(function (k) {
      var row = el('tr');
      row.appendChild(el('td', {}, CONFIG.kinds[k]));
      var bar = el('td', { 'class': 'bar' });
      var fill = el('span');
      fill.style.width = (100 * (totals[k] || 0) / max) + '%';
      bar.appendChild(fill);
      row.appendChild(bar);
      row.appendChild(el('td', { 'class': 'n' }, (totals[k] || 0).toLocaleString()));
      table.appendChild(row);
    });
    target.appendChild(table);
    var asOf = (body.as_of || []).join(', ');
    target.appendChild(el('p', { 'class': 'small' }, asOf ? '截至 ' + asOf :
      '尚无预警：运行 gongjian flags 刷新'));
  }

  document.addEventListener('DOMContentLoaded', function () {
    var token = localStorage.getItem(TOKEN_KEY);
    if (token) { login(token); } else { showLogin(); }
  });
}());
