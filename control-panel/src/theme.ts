const STORE = 'vtuber-stt-theme';

export type Theme = 'auto' | 'light' | 'dark';

/** The header's theme choice: `auto` follows the system (prefers-color-scheme), kept in this browser. */
export function setupTheme(select: HTMLSelectElement, onChange: () => void): void {
  const apply = (theme: Theme) => {
    if (theme === 'auto') delete document.documentElement.dataset.theme;
    else document.documentElement.dataset.theme = theme;
    onChange();
  };
  const saved = localStorage.getItem(STORE);
  select.value = saved === 'light' || saved === 'dark' ? saved : 'auto';
  apply(select.value as Theme);
  select.addEventListener('change', () => {
    localStorage.setItem(STORE, select.value);
    apply(select.value as Theme);
  });
  // The system switching to dark at night redraws what paints its own colours (the chart).
  matchMedia('(prefers-color-scheme: dark)').addEventListener('change', onChange);
}

/** A colour of the theme in force, for what draws itself (a canvas). */
export function themeColor(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888';
}
