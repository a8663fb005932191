import { t } from './i18n.js';

/**
 * The microphones this browser has, in the settings' select. Their names are given only once
 * the page may use the microphone (after the first start), so the list is filled again then and
 * whenever a device comes or goes. Without navigator.mediaDevices (not a secure context) only
 * the default stays.
 */
export class MicDevices {
  constructor(private readonly select: HTMLSelectElement) {
    select.addEventListener('change', () => (select.dataset.wanted = select.value));
    navigator.mediaDevices?.addEventListener?.('devicechange', () => void this.refresh());
    void this.refresh();
  }

  async refresh(): Promise<void> {
    const devices = (await navigator.mediaDevices?.enumerateDevices?.().catch(() => [])) ?? [];
    const wanted = this.select.dataset.wanted ?? this.select.value;
    const inputs = devices.filter((d) => d.kind === 'audioinput' && d.deviceId && d.deviceId !== 'default');
    const first = document.createElement('option');
    first.value = '';
    first.dataset.i18n = 'defaultMic';
    first.textContent = t('defaultMic');
    this.select.replaceChildren(
      first,
      ...inputs.map((d, i) => {
        const o = document.createElement('option');
        o.value = d.deviceId;
        o.textContent = d.label || `${t('microphone')} ${i + 1}`;
        return o;
      }),
    );
    this.select.value = inputs.some((d) => d.deviceId === wanted) ? wanted : '';
  }
}
