import { getStatus, setGpu } from './api.js';
import { currentLang, setLang, t, type Lang } from './i18n.js';
import { MicView } from './mic_view.js';
import { SessionWatch } from './session_watch.js';
import { renderCards } from './status_cards.js';
import { setupTheme } from './theme.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const banner = $<HTMLParagraphElement>('banner');
const toggle = $<HTMLInputElement>('gpu-toggle');
const route = $<HTMLParagraphElement>('route');

/** One banner; a problem clears only when what caused it (`source`) works again. */
function showError(message: string | undefined, source: string): void {
  if (!message && banner.dataset.source !== source) return;
  banner.dataset.source = source;
  banner.hidden = !message;
  banner.textContent = message ?? '';
}

let lastStatus: Awaited<ReturnType<typeof getStatus>> | undefined;

function renderRoute(): void {
  if (!lastStatus) return;
  const s = lastStatus;
  toggle.checked = s.gpu_enabled;
  toggle.disabled = !s.gpu_available;
  const where = t(s.transcribe_route === 'gpu' ? 'gpu' : 'cpu');
  route.textContent = !s.gpu_available ? t('noGpu') : s.gpu_enabled && s.transcribe_route !== 'gpu' ? t('gpuNotReady') : t('routeTo', where);
}

toggle.addEventListener('change', async () => {
  try {
    await setGpu(toggle.checked);
    await refresh();
  } catch (error) {
    showError(t('toggleFailed', (error as Error).message), 'toggle');
    toggle.checked = !toggle.checked;
  }
});

const sessions = new SessionWatch((message) => showError(message, 'session'));
const mic = new MicView((message) => showError(message, 'mic'));

async function refresh(): Promise<void> {
  try {
    lastStatus = await getStatus();
    renderCards($('cards'), lastStatus);
    renderRoute();
    showError(undefined, 'status');
  } catch (error) {
    showError(t('proxyDown', (error as Error).message), 'status');
  }
  await sessions.refresh();
}

for (const b of document.querySelectorAll<HTMLButtonElement>('[data-lang]')) {
  b.addEventListener('click', () => {
    setLang(b.dataset.lang as Lang);
    renderRoute();
    if (lastStatus) renderCards($('cards'), lastStatus);
    sessions.render();
    mic.render();
  });
}
setupTheme($<HTMLSelectElement>('theme'), () => mic.chart.draw());
// After the views are built: the texts they marked (data-i18n) in the language in force.
setLang(currentLang());
void refresh();
setInterval(() => void refresh(), 2000);
