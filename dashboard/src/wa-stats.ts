import { LitElement, css, html } from 'lit';
import { status } from './data/status.ts';
import { Watch } from './data/store.ts';
import { base } from './styles.ts';

/** The header's figures: devices, how many are connected, messages sent. */
export class WaStats extends LitElement {
  static styles = [
    base,
    css`
      dl {
        display: grid;
        grid-template-columns: repeat(3, minmax(0, 1fr));
        gap: 0.75rem;
        margin: 0;
      }
      div {
        background: #fff;
        border: 1px solid var(--line);
        border-radius: 0.75rem;
        padding: 0.75rem 1rem;
      }
      dt {
        font-size: 0.8rem;
        color: var(--muted);
      }
      dd {
        margin: 0.2rem 0 0;
        font-size: 1.5rem;
        font-weight: 700;
      }
      dd small {
        display: block;
        font-size: 0.8rem;
        font-weight: 600;
      }
      .on {
        color: #067647;
      }
      .off {
        color: var(--muted);
      }
      @media (max-width: 420px) {
        dl {
          gap: 0.4rem;
        }
        div {
          padding: 0.5rem 0.6rem;
        }
        dd {
          font-size: 1.2rem;
        }
      }
    `,
  ];

  #status = new Watch(this, status);

  render() {
    const devices = this.#status.value.data?.devices;
    const connected = devices?.filter((d) => d.status === 'CONNECTED').length ?? 0;
    const sent = devices?.reduce((sum, d) => sum + d.totalMessagesSent, 0);
    const unknown = '–';
    return html`<dl aria-label="Summary">
      <div>
        <dt>Devices</dt>
        <dd data-testid="stat-devices">${devices?.length ?? unknown}</dd>
      </div>
      <div>
        <dt>Connected</dt>
        <dd data-testid="stat-connected">
          ${devices ? connected : unknown}
          ${devices ? html`<small class=${connected ? 'on' : 'off'}>${connected ? 'Connected' : 'Disconnected'}</small>` : ''}
        </dd>
      </div>
      <div>
        <dt>Messages Sent</dt>
        <dd data-testid="stat-sent">${sent ?? unknown}</dd>
      </div>
    </dl>`;
  }
}

customElements.define('wa-stats', WaStats);
declare global {
  interface HTMLElementTagNameMap {
    'wa-stats': WaStats;
  }
}
