const STORE = 'vtuber-stt-mic-settings';

/** What a streamer changes about the panel's own microphone session; empty means the service's default. */
export interface MicSettings {
  deviceId: string;
  language: string;
  prompt: string;
  endOfTurnMs?: number;
  sentenceEndMs?: number;
  /** A named session (listeners, captions, the webhook hear it); empty keeps it private. */
  session: string;
}

const SESSION_NAME = /^[A-Za-z0-9_-]{1,64}$/;

function ms(value: string): number | undefined {
  const n = Math.round(Number(value));
  return value.trim() !== '' && Number.isFinite(n) ? Math.min(10000, Math.max(64, n)) : undefined;
}

/** The settings form (`#set-*` fields), kept in this browser. */
export class MicSettingsForm {
  private readonly field = <T extends HTMLElement>(id: string) => this.form.querySelector<T>(`#${id}`)!;

  constructor(private readonly form: HTMLFormElement) {
    const saved = JSON.parse(localStorage.getItem(STORE) ?? '{}') as Partial<MicSettings>;
    this.field<HTMLSelectElement>('set-language').value = saved.language ?? '';
    this.field<HTMLInputElement>('set-prompt').value = saved.prompt ?? '';
    this.field<HTMLInputElement>('set-end-of-turn').value = saved.endOfTurnMs === undefined ? '' : String(saved.endOfTurnMs);
    this.field<HTMLInputElement>('set-sentence-end').value = saved.sentenceEndMs === undefined ? '' : String(saved.sentenceEndMs);
    this.field<HTMLInputElement>('set-session').value = saved.session ?? '';
    this.field<HTMLSelectElement>('set-device').dataset.wanted = saved.deviceId ?? '';
    form.addEventListener('submit', (e) => e.preventDefault());
    form.addEventListener('change', () => localStorage.setItem(STORE, JSON.stringify(this.read())));
  }

  /** Calls `listener` with the settings whenever one changes. */
  onChange(listener: (settings: MicSettings) => void): void {
    this.form.addEventListener('change', () => listener(this.read()));
  }

  read(): MicSettings {
    const device = this.field<HTMLSelectElement>('set-device');
    const session = this.field<HTMLInputElement>('set-session').value.trim();
    return {
      // Until the list has names, the saved choice stands.
      deviceId: device.dataset.wanted ?? device.value,
      language: this.field<HTMLSelectElement>('set-language').value,
      prompt: this.field<HTMLInputElement>('set-prompt').value,
      endOfTurnMs: ms(this.field<HTMLInputElement>('set-end-of-turn').value),
      sentenceEndMs: ms(this.field<HTMLInputElement>('set-sentence-end').value),
      session: SESSION_NAME.test(session) ? session : '',
    };
  }
}

/**
 * The config message that applies `settings` to a transcription connection: only what was set,
 * so the rest stays the service's default. Turn timing exists only with server turns.
 */
export function configMessage(settings: MicSettings, serverTurns: boolean): Record<string, unknown> {
  const m: Record<string, unknown> = { type: 'config' };
  if (settings.language) m.language = settings.language;
  if (settings.prompt) m.prompt = settings.prompt;
  if (serverTurns && settings.endOfTurnMs !== undefined) m.end_of_turn_ms = settings.endOfTurnMs;
  if (serverTurns && settings.sentenceEndMs !== undefined) m.sentence_end_ms = settings.sentenceEndMs;
  return m;
}
