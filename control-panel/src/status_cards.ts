import type { Status } from './api.js';
import { t, type Key } from './i18n.js';

type BackendStatus = Status['backends'][string];

const fmt = (v: number | undefined) => (v === undefined ? '–' : String(Math.round(v)));

/** Every address a backend answers on: a pool's members' too. */
function urlsOf(b: BackendStatus): string[] {
  const members = (b as { members?: { url: string }[] }).members ?? [];
  return [...b.url.split(','), ...members.map((m) => m.url)];
}

/**
 * The transcription backend whose process is also the detection service (`npm start` runs one
 * process with both roles): its card says so and the detection card is not drawn twice.
 */
function hostOfDetect(status: Status): BackendStatus | undefined {
  const detect = status.backends.detect;
  if (!detect) return undefined;
  return Object.values(status.backends).find((b) => b.name !== 'detect' && urlsOf(b).includes(detect.url));
}

/** One card per process: state, device, model, queue, latency; problems spelled out. */
export function renderCards(container: HTMLElement, status: Status): void {
  const host = hostOfDetect(status);
  const detect = status.backends.detect;
  container.replaceChildren(
    ...Object.values(status.backends)
      .filter((b) => !(host && b === detect))
      .map((b) => {
        const card = document.createElement('article');
        card.className = 'card';
        card.dataset.backend = b.name;
        card.dataset.state = b.state;
        const title = document.createElement('h3');
        const name = document.createElement('span');
        name.textContent = b === host ? `${t(b.name as Key)} ${t('alsoDetect')}` : t(b.name as Key);
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
        if (b === host) {
          card.dataset.roles = 'transcribe detect';
          // One process, two roles: its detection side may still be loading while transcription is ready.
          if (detect!.state !== b.state) rows.push([t('detect'), t(detect!.state)]);
        }
        if (b.error) rows.push([t('problem'), b.error]);
        if (b === host && detect!.error && detect!.error !== b.error) rows.push([t('problem'), detect!.error]);
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
