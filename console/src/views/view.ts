/** A page of the console: its element, and what to stop when leaving it (streams, timers). */
export interface View {
  element: HTMLElement;
  stop(): void;
}

/** Width for a chart inside the page (narrow screens get the full width). */
export function chartWidth(): number {
  return Math.max(260, Math.min(1100, document.documentElement.clientWidth - 64));
}
