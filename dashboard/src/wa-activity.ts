import { LitElement, css, html, svg } from 'lit';
import { activity, type DayCount } from './data/activity.ts';
import { Watch } from './data/store.ts';
import { base } from './styles.ts';

const WIDTH = 960;
const HEIGHT = 170;
const AXIS = 18;

/** Messages sent and received per day over the last 30 days: every device together, or one. */
export class WaActivity extends LitElement {
  static styles = [
    base,
    css`
      header {
        display: flex;
        flex-wrap: wrap;
        gap: 0.75rem;
        align-items: center;
        justify-content: space-between;
      }
      h2 {
        margin: 0;
      }
      svg {
        width: 100%;
        height: auto;
        display: block;
        margin-top: 0.75rem;
      }
      .sent {
        fill: var(--green);
        background: var(--green);
      }
      .received {
        fill: #7a5af8;
        background: #7a5af8;
      }
      .axis {
        font-size: 10px;
        fill: var(--muted);
      }
      .legend {
        display: flex;
        gap: 1rem;
        font-size: 0.85rem;
        color: var(--muted);
      }
      .swatch {
        display: inline-block;
        width: 0.7rem;
        height: 0.7rem;
        border-radius: 2px;
        margin-right: 0.3rem;
        vertical-align: -0.05rem;
      }
    `,
  ];

  #activity = new Watch(this, activity);
  #deviceId = '';

  render() {
    const { data, error, loading } = this.#activity.value;
    const shown = data?.filter((d) => !this.#deviceId || d.deviceId === this.#deviceId) ?? [];
    const days = sum(shown.map((d) => d.days));
    const totals = days.reduce((t, d) => ({ sent: t.sent + d.sent, received: t.received + d.received }), { sent: 0, received: 0 });
    return html`<section class="card" aria-labelledby="activity-title">
      <header>
        <h2 id="activity-title">Activity, last 30 days</h2>
        <label
          >Device
          <select @change=${(e: Event) => ((this.#deviceId = (e.target as HTMLSelectElement).value), this.requestUpdate())}>
            <option value="">All devices</option>
            ${data?.map((d) => html`<option value=${d.deviceId} ?selected=${d.deviceId === this.#deviceId}>${d.name}</option>`)}
          </select>
        </label>
      </header>
      ${error ? html`<p class="error" role="alert">${error}</p>` : ''}
      ${loading && !data ? html`<p class="muted">Loading…</p>` : this.#chart(days)}
      <p class="legend" data-testid="activity-totals">
        <span><span class="swatch sent"></span>${totals.sent} sent</span>
        <span><span class="swatch received"></span>${totals.received} received</span>
      </p>
    </section>`;
  }

  #chart(days: DayCount[]) {
    if (!days.length) return html`<p class="muted">No devices yet.</p>`;
    const max = Math.max(1, ...days.map((d) => Math.max(d.sent, d.received)));
    const slot = WIDTH / days.length;
    const bar = Math.max(1, slot / 2 - 1);
    const height = (n: number) => ((HEIGHT - AXIS) * n) / max;
    return html`<svg viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="Messages sent and received per day">
      ${days.map((d, i) => {
        const x = i * slot;
        return svg`<g data-date=${d.date}>
          <title>${d.date}: ${d.sent} sent, ${d.received} received</title>
          <rect class="sent" x=${x} y=${HEIGHT - AXIS - height(d.sent)} width=${bar} height=${height(d.sent)}></rect>
          <rect class="received" x=${x + bar} y=${HEIGHT - AXIS - height(d.received)} width=${bar} height=${height(d.received)}></rect>
          ${i % 7 === 0 || i === days.length - 1 ? svg`<text class="axis" x=${x} y=${HEIGHT - 4}>${d.date.slice(5)}</text>` : ''}
        </g>`;
      })}
      <text class="axis" x=${WIDTH} y="10" text-anchor="end">${max}</text>
    </svg>`;
  }
}

/** The devices' days added up, day by day (every device has the same days). */
function sum(series: DayCount[][]): DayCount[] {
  if (!series.length) return [];
  return series[0]!.map((day, i) => ({ date: day.date, sent: series.reduce((n, s) => n + s[i]!.sent, 0), received: series.reduce((n, s) => n + s[i]!.received, 0) }));
}

customElements.define('wa-activity', WaActivity);
declare global {
  interface HTMLElementTagNameMap {
    'wa-activity': WaActivity;
  }
}
