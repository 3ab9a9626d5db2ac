// The dashboards' browser side: charts from the data the server put in `data-chart`, live
// updates over Server-Sent Events, the filter form's URL, copy buttons, and the overview's
// layout editor (Alpine.js, CSP build: components are registered here, never inline).
'use strict';

(function () {
  const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content ?? '';

  // ---- Formatting, the same rules as src/dashboards/format.ts ----------------------------
  const trim = (s) => s.replace(/\.0$/, '');
  const count = (n) => {
    if (n === null || n === undefined || !Number.isFinite(n)) return '–';
    const a = Math.abs(n);
    if (a < 1000) return Number.isInteger(n) ? String(n) : trim(n.toFixed(1));
    for (const [div, unit] of [
      [1e9, 'B'],
      [1e6, 'M'],
      [1e3, 'k'],
    ])
      if (a >= div) return trim((n / div).toFixed(a / div >= 100 ? 0 : 1)) + unit;
    return String(n);
  };
  const usd = (n) =>
    n === null || n === undefined
      ? '–'
      : Math.abs(n) >= 10000
        ? `$${count(n)}`
        : Math.abs(n) >= 100
          ? `$${n.toFixed(0)}`
          : `$${n.toFixed(2)}`;
  const ms = (n) =>
    n === null || n === undefined
      ? '–'
      : n < 1000
        ? `${Math.round(n)} ms`
        : n < 60000
          ? `${trim((n / 1000).toFixed(1))} s`
          : `${trim((n / 60000).toFixed(1))} min`;
  const pct = (n) => (n === null || n === undefined ? '–' : `${trim((n * 100).toFixed(1))}%`);
  const FORMAT = { count, usd, ms, pct };
  /** ApexCharts writes names into innerHTML (and URI-decodes legend names): escape them. */
  const esc = (s) => String(s).replace(/[&<>"'%]/g, (ch) => `&#${ch.charCodeAt(0)};`);

  // ---- Charts ------------------------------------------------------------------------------
  const charts = new Map();
  const dark = () => window.matchMedia('(prefers-color-scheme: dark)').matches;

  /** A value with no value on either side: no line reaches it, so only a marker shows it. */
  const isolated = (values) =>
    values.some((v, i) => v !== null && (values[i - 1] ?? null) === null && (values[i + 1] ?? null) === null);
  /** Markers (per series) for lines and areas with isolated values: a sparse series is otherwise invisible. */
  const markersFor = (type, series) => ({
    size: type === 'bar' ? 0 : series.map((values) => (isolated(values) ? 4 : 0)),
    strokeWidth: 0,
  });

  /** Below this width a chart shows the axis' fewer labels. */
  const NARROW_CHART_PX = 420;

  function chartOptions(spec, width) {
    const format = FORMAT[spec.unit] ?? count;
    // One slot per bucket of the server's axis (src/dashboards/charts.ts): a series' points
    // go in the slots of their instants, and the labels and titles are the tenant's clock.
    const { t, titles } = spec.axis;
    const labels = width < NARROW_CHART_PX ? spec.axis.narrow : spec.axis.labels;
    const slot = new Map(t.map((at, i) => [at, i]));
    const series = spec.series.map((s) => {
      const values = t.map(() => null);
      for (const [at, v] of s.data) values[slot.get(at)] = v;
      return values;
    });
    return {
      chart: {
        type: spec.type,
        height: 260,
        stacked: !!spec.stacked,
        toolbar: { show: false },
        zoom: { enabled: false },
        animations: { enabled: false },
        background: 'transparent',
        fontFamily: 'inherit',
        injectStyleSheet: false,
        parentHeightOffset: 0,
      },
      theme: { mode: dark() ? 'dark' : 'light' },
      series: spec.series.map((s, i) => ({ name: esc(s.name), data: series[i] })),
      xaxis: {
        type: 'category',
        categories: labels.map(esc),
        tickPlacement: spec.type === 'bar' ? 'between' : 'on',
        // Every label flat; one that would overlap the last drawn is left out (a phone's narrow chart).
        labels: { rotate: 0, trim: false, hideOverlappingLabels: true },
        axisTicks: { show: false },
        tooltip: { enabled: false },
      },
      yaxis: { labels: { formatter: (v) => format(v) }, min: 0, forceNiceScale: true },
      dataLabels: { enabled: false },
      markers: markersFor(spec.type, series),
      stroke: { width: spec.type === 'bar' ? 0 : 2, curve: 'smooth' },
      fill: spec.type === 'area' ? { type: 'gradient', gradient: { opacityFrom: 0.35, opacityTo: 0.05 } } : {},
      legend: { position: 'top', horizontalAlign: 'left' },
      tooltip: {
        x: { formatter: (_, o) => esc(titles[o?.dataPointIndex] ?? '') },
        y: { formatter: (v) => format(v) },
      },
      plotOptions: { bar: { borderRadius: 2 } },
      noData: { text: 'No data in this range' },
      grid: { borderColor: dark() ? '#2a3038' : '#e3e6ea' },
    };
  }

  function initCharts() {
    if (typeof ApexCharts === 'undefined') return;
    for (const [el, chart] of charts) {
      if (!el.isConnected) {
        chart.destroy();
        charts.delete(el);
      }
    }
    document.querySelectorAll('[data-chart]').forEach((el) => {
      if (charts.has(el)) return;
      const chart = new ApexCharts(el, chartOptions(JSON.parse(el.dataset.chart), el.clientWidth));
      charts.set(el, chart);
      el.dataset.narrowAxis = String(el.clientWidth < NARROW_CHART_PX);
      chart.render();
    });
  }

  /** A chart made narrow or wide (a phone turned, a window resized) takes the axis' other labels. */
  let resizing = null;
  window.addEventListener('resize', () => {
    clearTimeout(resizing);
    resizing = setTimeout(() => {
      for (const [el, chart] of charts) {
        const narrow = String(el.clientWidth < NARROW_CHART_PX);
        if (!el.isConnected || el.dataset.narrowAxis === narrow) continue;
        el.dataset.narrowAxis = narrow;
        chart.updateOptions(chartOptions(JSON.parse(el.dataset.chart), el.clientWidth), false, false);
      }
    }, 200);
  });

  // ---- Live updates ------------------------------------------------------------------------
  const indicator = () => document.getElementById('live');
  function setState(state, text) {
    const el = indicator();
    if (!el) return;
    el.dataset.state = state;
    el.querySelector('.live-text').textContent = text;
  }

  let refreshing = false;
  let again = false;
  let lastRefresh = 0;
  // biome-ignore lint/correctness/noUnusedVariables: read by the ??= below (one pending timer at a time)
  let trailing = null;
  /** At most one refresh a second per page: a busy tenant's commits need not re-render every tab each time. */
  const MIN_REFRESH_MS = 1000;
  /** Re-renders the page's live parts from the server: cards' text, charts' series. */
  async function refreshLive() {
    if (!document.querySelector('[data-live]')) return;
    if (refreshing) {
      again = true;
      return;
    }
    const wait = lastRefresh + MIN_REFRESH_MS - Date.now();
    if (wait > 0) {
      trailing ??= setTimeout(() => {
        trailing = null;
        void refreshLive();
      }, wait);
      return;
    }
    lastRefresh = Date.now();
    refreshing = true;
    try {
      const res = await fetch(location.href, {
        headers: { 'HX-Request': 'true', 'X-Live': '1' },
        credentials: 'same-origin',
      });
      const redirect = res.headers.get('hx-redirect');
      if (redirect) {
        location.href = redirect;
        return;
      }
      if (!res.ok) return;
      const doc = new DOMParser().parseFromString(await res.text(), 'text/html');
      doc.querySelectorAll('[data-live]').forEach((fresh) => {
        const current = document.querySelector(`[data-live="${CSS.escape(fresh.dataset.live)}"]`);
        if (!current) return;
        const chart = charts.get(current);
        if (chart && fresh.dataset.chart) {
          if (current.dataset.chart === fresh.dataset.chart) return;
          current.dataset.chart = fresh.dataset.chart;
          current.dataset.narrowAxis = String(current.clientWidth < NARROW_CHART_PX);
          // Its axis may have slots more (the range moved on): series, labels and titles anew.
          chart.updateOptions(chartOptions(JSON.parse(fresh.dataset.chart), current.clientWidth), false, false);
        } else if (current.innerHTML !== fresh.innerHTML) {
          current.innerHTML = fresh.innerHTML;
          htmx.process(current);
        }
      });
      document.body.dataset.liveSeq = String(lastSeq);
      document.dispatchEvent(new CustomEvent('live:refreshed'));
    } catch {
      // offline: the indicator says so; the next update tries again
    } finally {
      refreshing = false;
      if (again) {
        again = false;
        void refreshLive();
      }
    }
  }

  // ---- The bell: the firing alerts the person may see, as the stream counts them for them.
  function setBell(count) {
    const bell = document.getElementById('alert-bell');
    if (!bell) return;
    bell.dataset.count = count;
    bell.querySelector('.bell-count').textContent = count;
  }

  let lastSeq = 0;
  let source = null;
  function connect() {
    if (!indicator() || source) return;
    source = new EventSource('/live');
    setState('connecting', 'Connecting…');
    source.addEventListener('open', () => setState('live', 'Live'));
    source.addEventListener('hello', (e) => {
      // A new stream (after a drop) that missed commits: catch up at once.
      const seq = Number(e.data);
      if (lastSeq && seq !== lastSeq) void refreshLive();
      lastSeq = seq;
      setState('live', 'Live');
    });
    source.addEventListener('update', (e) => {
      lastSeq = Number(e.data);
      void refreshLive();
    });
    source.addEventListener('alerts', (e) => setBell(String(Number(e.data))));
    source.addEventListener('expired', () => {
      source.close();
      location.href = `/login?next=${encodeURIComponent(location.pathname + location.search)}`;
    });
    source.addEventListener('error', () => {
      // EventSource reconnects by itself (sending Last-Event-ID) unless the browser gave up;
      // then this page starts a new one. Say which meanwhile.
      if (source.readyState === EventSource.CLOSED) reconnect(3000);
      if (navigator.onLine === false) setState('offline', 'Offline');
      else setState('reconnecting', 'Reconnecting…');
    });
  }
  let retry = null;
  function reconnect(delay) {
    source?.close();
    source = null;
    clearTimeout(retry);
    retry = setTimeout(connect, delay);
  }
  window.addEventListener('offline', () => setState('offline', 'Offline'));
  window.addEventListener('online', () => {
    setState('reconnecting', 'Reconnecting…');
    reconnect(0);
  });

  // ---- htmx: filters in the URL, charts after swaps, CSRF on writes ---------------------------
  document.addEventListener('htmx:configRequest', (e) => {
    const params = e.detail.formData;
    const trigger = e.detail.triggeringEvent?.target;
    if (e.detail.elt.matches?.('form.filters')) {
      // A preset replaces custom dates; applying dates replaces the preset.
      if (trigger?.name === 'range' && trigger.value !== 'custom') {
        params.delete('from');
        params.delete('to');
      } else if (params.get('from') || params.get('to') || params.get('range') === 'custom') params.delete('range');
      for (const [k, v] of [...params.entries()]) if (v === '') params.delete(k);
    }
    if (e.detail.verb !== 'get') e.detail.headers['X-CSRF-Token'] = csrf();
  });
  document.addEventListener('htmx:afterSettle', initCharts);
  // A filter bar control keeps the keyboard focus through the swap it set off, so arrow keys
  // go on choosing (htmx gives focus back by id; the bar's controls are found by name).
  let refocus = null;
  document.addEventListener('htmx:beforeSwap', () => {
    const active = document.activeElement;
    refocus = active?.form?.matches('form.filters') && active.name ? active.name : null;
  });
  document.addEventListener('htmx:afterSettle', () => {
    if (refocus) document.querySelector(`form.filters [name="${CSS.escape(refocus)}"]`)?.focus();
    refocus = null;
  });
  // Dates apply with their button, not on every change of one of them.
  document.addEventListener(
    'change',
    (e) => {
      if (e.target.matches?.('form.filters input[type=date]')) e.stopPropagation();
    },
    true,
  );
  document.addEventListener('htmx:responseError', (e) => {
    const box = document.getElementById('flash');
    if (box) box.textContent = `That did not work (${e.detail.xhr.status}). Reload the page and try again.`;
  });

  // ---- Copy buttons ------------------------------------------------------------------------
  document.addEventListener('click', async (e) => {
    const button = e.target.closest?.('[data-copy]');
    if (!button) return;
    const text = document.getElementById(button.dataset.copy)?.textContent ?? '';
    try {
      await navigator.clipboard.writeText(text);
      button.textContent = 'Copied';
    } catch {
      const range = document.createRange();
      range.selectNodeContents(document.getElementById(button.dataset.copy));
      getSelection().removeAllRanges();
      getSelection().addRange(range);
      button.textContent = 'Selected: press Ctrl+C';
    }
    setTimeout(() => (button.textContent = 'Copy'), 2000);
  });

  // ---- The overview's layout editor (Alpine) --------------------------------------------------
  document.addEventListener('alpine:init', () => {
    window.Alpine.data('layoutEditor', () => ({
      dirty: false,
      status: '',
      items() {
        return [...this.$root.querySelectorAll('[data-widget]')];
      },
      moved() {
        this.dirty = true;
      },
      toggled() {
        this.dirty = true;
      },
      up(e) {
        this.move(e, -1);
      },
      down(e) {
        this.move(e, 1);
      },
      move(e, by) {
        const li = e.target.closest('[data-widget]');
        const sibling = by < 0 ? li.previousElementSibling : li.nextElementSibling;
        if (!sibling) return;
        if (by < 0) li.parentNode.insertBefore(li, sibling);
        else li.parentNode.insertBefore(sibling, li);
        e.target.focus();
        this.dirty = true;
        this.status = `${li.dataset.title} moved to position ${this.items().indexOf(li) + 1}.`;
      },
      layout(scope) {
        const items = this.items();
        return {
          scope,
          order: items.map((li) => li.dataset.widget),
          hidden: items
            .filter((li) => !li.querySelector('input[type=checkbox]').checked)
            .map((li) => li.dataset.widget),
        };
      },
      async send(method, body) {
        this.status = 'Saving…';
        const res = await fetch('/api/v1/dashboard/layout', {
          method,
          headers: { 'content-type': 'application/json', 'x-csrf-token': csrf() },
          body: body ? JSON.stringify(body) : undefined,
          credentials: 'same-origin',
        });
        if (!res.ok) {
          this.status = (await res.json().catch(() => ({}))).error ?? `Could not save (${res.status}).`;
          return;
        }
        location.reload();
      },
      save() {
        return this.send('PUT', this.layout('me'));
      },
      saveDefault() {
        return this.send('PUT', this.layout('tenant'));
      },
      reset() {
        return this.send('DELETE');
      },
    }));
  });

  function start() {
    initCharts();
    connect();
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
