import type { Status } from './api.js';
import { t, type Key } from './i18n.js';

const fmt = (v: number | undefined) => (v === undefined ? '–' : String(Math.round(v)));

/** One card per backend: state, device, model, queue, latency; problems spelled out. */
export function renderCards(container: HTMLElement, status: Status): void {
  container.replaceChildren(
    ...Object.values(status.backends).map((b) => {
      const card = document.createElement('article');
      card.className = 'card';
      card.dataset.backend = b.name;
      card.dataset.state = b.state;
      const title = document.createElement('h3');
      const name = document.createElement('span');
      name.textContent = t(b.name as Key);
      const state = document.createElement('span');
      state.className = 'state';
      state.textContent = t(b.state);
      title.append(name, state);
      const rows: [string, string][] = [
        [t('device'), b.device ?? '–'],
        [t('model'), b.model ? (b.model.split(/[\\/]/).pop() ?? b.model) : '–'],
        [t('queue'), fmt(b.queue_depth)],
        [t('latency'), `${fmt(b.p50_ms)} / ${fmt(b.p95_ms)} ms`],
      ];
      if (b.error) rows.push([t('problem'), b.error]);
      const dl = document.createElement('dl');
      for (const [k, v] of rows) {
        const dt = document.createElement('dt');
        dt.textContent = k;
        const dd = document.createElement('dd');
        dd.textContent = v;
        dl.append(dt, dd);
      }
      card.append(title, dl);
      return card;
    }),
  );
}
