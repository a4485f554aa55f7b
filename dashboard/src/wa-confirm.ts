import { LitElement, html } from 'lit';
import { base } from './styles.ts';

export interface Question {
  heading: string;
  message: string;
  /** The confirming button's text, e.g. "Delete". */
  action: string;
}

/**
 * A modal yes/no question: `await confirm.ask({...})` is true only if the user confirmed.
 * The native <dialog> gives focus trapping, Escape to cancel and the backdrop for free.
 */
export class WaConfirm extends LitElement {
  static properties = { question: { state: true } };
  static styles = [base];

  question: Question = { heading: '', message: '', action: '' };
  #answer?: (yes: boolean) => void;

  async ask(question: Question): Promise<boolean> {
    this.#answer?.(false);
    this.question = question;
    await this.updateComplete;
    const dialog = this.renderRoot.querySelector('dialog')!;
    dialog.returnValue = '';
    dialog.showModal();
    return new Promise((resolve) => (this.#answer = resolve));
  }

  render() {
    const { heading, message, action } = this.question;
    return html`<dialog aria-labelledby="heading" aria-describedby="message" @close=${this.#closed}>
      <form method="dialog">
        <h2 id="heading">${heading}</h2>
        <p id="message">${message}</p>
        <div class="dialog-actions">
          <button value="cancel" autofocus>Cancel</button>
          <button value="confirm" class="primary">${action}</button>
        </div>
      </form>
    </dialog>`;
  }

  #closed(event: Event) {
    this.#answer?.((event.target as HTMLDialogElement).returnValue === 'confirm');
    this.#answer = undefined;
  }
}

customElements.define('wa-confirm', WaConfirm);
declare global {
  interface HTMLElementTagNameMap {
    'wa-confirm': WaConfirm;
  }
}
