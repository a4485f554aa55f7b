import { LitElement, css, html, nothing } from 'lit';
import qrcode from 'qrcode-generator';

// Drawn as one SVG path: crisp at any size, and the modules stay readable from the DOM (the
// browser tests compare them with an independent encoding of the same text).
const QUIET_ZONE = 4;

/** The QR code of `value` (a WhatsApp linking code: ASCII, so the library's default byte mode fits). */
export class WaQrCode extends LitElement {
  static properties = { value: {}, label: {} };
  static styles = css`
    :host {
      display: block;
      width: min(17rem, 100%);
      aspect-ratio: 1;
    }
    svg {
      display: block;
      width: 100%;
      height: 100%;
    }
  `;

  value = '';
  label = 'QR code';

  render() {
    if (!this.value) return nothing;
    const qr = qrcode(0, 'L');
    qr.addData(this.value);
    qr.make();
    const count = qr.getModuleCount();
    let path = '';
    for (let row = 0; row < count; row++) {
      for (let col = 0; col < count; col++) if (qr.isDark(row, col)) path += `M${col + QUIET_ZONE} ${row + QUIET_ZONE}h1v1h-1z`;
    }
    const size = count + 2 * QUIET_ZONE;
    return html`<svg role="img" aria-label=${this.label} viewBox="0 0 ${size} ${size}" shape-rendering="crispEdges" data-modules=${count}>
      <rect width=${size} height=${size} fill="#fff" />
      <path d=${path} fill="#000" />
    </svg>`;
  }
}

customElements.define('wa-qr-code', WaQrCode);
declare global {
  interface HTMLElementTagNameMap {
    'wa-qr-code': WaQrCode;
  }
}
