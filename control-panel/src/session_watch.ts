import { getSessions, type SessionInfo } from './api.js';
import { HistoryView } from './history_view.js';
import { t } from './i18n.js';
import { SessionListener } from './session_listener.js';
import { SessionView } from './session_view.js';
import { renderSessions } from './sessions_list.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const SESSION_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * The sessions card: the named sessions (GET /api/sessions) and the one watched, heard as a
 * listener (/ws/events): its state and its transcript. The watched name is kept in the address
 * (`/?session=main`), so an OBS dock's URL opens on it.
 */
export class SessionWatch {
  private listener?: SessionListener;
  private sessions: SessionInfo[] = [];
  private readonly view: SessionView;
  private readonly history = new HistoryView({
    list: $('history'),
    empty: $('history-empty'),
    live: $('history-live'),
    copy: $('history-copy'),
    clear: $('history-clear'),
    exportText: $('history-txt'),
    exportSrt: $('history-srt'),
  });

  constructor(private readonly showError: (message: string | undefined) => void) {
    this.view = new SessionView(
      {
        view: $('session-view'),
        title: $('session-title'),
        live: $('session-live'),
        muted: $('session-muted'),
        muteToggle: $('mute-toggle'),
        vtuber: $('vtuber'),
        captionsUrl: $('captions-url'),
        captionsCopy: $('captions-copy'),
        captionsKeyNote: $('captions-key-note'),
      },
      showError,
    );
    $<HTMLFormElement>('watch-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const input = $<HTMLInputElement>('session-name');
      if (input.checkValidity()) this.watch(input.value.trim());
    });
    const asked = new URLSearchParams(location.search).get('session');
    if (asked && SESSION_NAME.test(asked)) this.watch(asked);
  }

  async refresh(): Promise<void> {
    try {
      this.sessions = (await getSessions()).sessions;
      this.renderList();
    } catch {
      // /api/status says why the proxy is unreachable; a second banner would say nothing more.
    }
  }

  /** Texts that depend on the language. */
  render(): void {
    this.renderList();
    this.view.render();
    this.history.render();
  }

  watch(name: string): void {
    if (this.listener?.name === name) return;
    this.listener?.stop();
    this.showError(undefined);
    this.view.watch(name);
    this.history.reset(name);
    const url = new URL(location.href);
    url.searchParams.set('session', name);
    history.replaceState(null, '', url);
    this.listener = new SessionListener(
      name,
      (m) => {
        if (this.view.onMessage(m)) this.history.newTimeline();
        this.history.onEvent(m);
        // A speaker came or went, or the mute changed: the list says so now, not at the next poll.
        if (m.type === 'session') void this.refresh();
      },
      (reason) => this.showError(t('listenerLost', reason)),
    );
    void this.refresh();
  }

  private renderList(): void {
    renderSessions($('sessions'), $('sessions-empty'), this.sessions, this.listener?.name ?? '', (name) => this.watch(name));
  }
}
