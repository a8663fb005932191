import type { SessionInfo } from './api.js';
import { t } from './i18n.js';

/** The named sessions (GET /api/sessions) as buttons: live, muted and listener count; one click watches it. */
export function renderSessions(list: HTMLUListElement, empty: HTMLElement, sessions: SessionInfo[], watched: string, watch: (name: string) => void): void {
  const sorted = [...sessions].sort((a, b) => Number(b.live) - Number(a.live) || a.name.localeCompare(b.name));
  list.replaceChildren(
    ...sorted.map((s) => {
      const li = document.createElement('li');
      const b = document.createElement('button');
      b.type = 'button';
      b.dataset.session = s.name;
      b.dataset.live = String(s.live);
      b.dataset.muted = String(s.muted);
      b.setAttribute('aria-pressed', String(s.name === watched));
      b.title = `${t(s.live ? 'live' : 'notLive')}${s.muted ? ` · ${t('muted')}` : ''} · ${t('listeners', s.listeners)}`;
      const dot = document.createElement('span');
      dot.className = 'dot';
      const name = document.createElement('span');
      name.textContent = s.name;
      const count = document.createElement('span');
      count.className = 'count';
      count.textContent = `(${s.listeners})`;
      b.append(dot, name, count);
      b.addEventListener('click', () => watch(s.name));
      li.append(b);
      return li;
    }),
  );
  empty.hidden = sessions.length > 0;
}
