import { LitElement, css, html } from 'lit';
import { base } from './styles.ts';

/** The Clipboard API exists only in secure contexts (https, localhost); elsewhere the old way. */
async function copyText(text: string): Promise<void> {
  if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
  const area = Object.assign(document.createElement('textarea'), { value: text, readOnly: true });
  area.style.cssText = 'position:fixed;opacity:0';
  document.body.append(area);
  area.select();
  const ok = document.execCommand('copy');
  area.remove();
  if (!ok) throw new Error('copy refused');
}

/** A button that copies `value`; `label` names what it copies, for screen readers. */
export class WaCopyButton extends LitElement {
  static properties = { value: {}, label: {}, result: { state: true } };
  static styles = [base, css`:host { display: inline-block; }`];

  value = '';
  label = 'Copy';
  result: '' | 'copied' | 'failed' = '';
  #timer?: ReturnType<typeof setTimeout>;

  render() {
    const text = { '': 'Copy', copied: 'Copied', failed: 'Copy failed' }[this.result];
    return html`<button type="button" class="small" aria-label=${this.label} @click=${this.#copy}>${text}</button
      ><span class="sr-only" role="status">${this.result === 'copied' ? 'Copied to the clipboard' : this.result === 'failed' ? 'Could not copy: select the text and copy it by hand' : ''}</span>`;
  }

  async #copy() {
    this.result = await copyText(this.value).then(
      () => 'copied' as const,
      () => 'failed' as const,
    );
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => (this.result = ''), 2_000);
  }

  disconnectedCallback() {
    super.disconnectedCallback();
    clearTimeout(this.#timer);
  }
}

customElements.define('wa-copy-button', WaCopyButton);
declare global {
  interface HTMLElementTagNameMap {
    'wa-copy-button': WaCopyButton;
  }
}
