// Shared by every element: each has its own shadow root, so page-wide CSS cannot reach inside.
// Constructed stylesheets are adopted, not copied, so sharing costs nothing per element.
import { css } from 'lit';

export const base = css`
  :host {
    display: block;
    --green: #128c7e;
    --green-dark: #075e54;
    --red: #b42318;
    --amber: #a15c07;
    --blue: #175cd3;
    --ink: #101828;
    --muted: #475467;
    --line: #e4e7ec;
    --soft: #f6f8fa;
    color: var(--ink);
  }
  *,
  *::before,
  *::after {
    box-sizing: border-box;
  }
  [hidden] {
    display: none !important;
  }
  h2 {
    font-size: 1.15rem;
    margin: 0;
  }
  h3 {
    font-size: 1rem;
    margin: 1rem 0 0.5rem;
  }
  p {
    margin: 0.5rem 0;
  }
  a {
    color: var(--green-dark);
  }
  .card {
    background: #fff;
    border: 1px solid var(--line);
    border-radius: 0.75rem;
    padding: 1rem;
  }
  .card-head {
    display: flex;
    flex-wrap: wrap;
    gap: 0.5rem;
    align-items: center;
    justify-content: space-between;
    margin-bottom: 0.75rem;
  }
  .muted {
    color: var(--muted);
    font-size: 0.875rem;
  }
  .mono,
  code {
    font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
    font-size: 0.85em;
    overflow-wrap: anywhere;
  }

  button,
  input,
  select,
  textarea {
    font: inherit;
    color: inherit;
  }
  button {
    cursor: pointer;
    border: 1px solid var(--line);
    background: #fff;
    border-radius: 0.5rem;
    padding: 0.4rem 0.8rem;
    min-height: 2.25rem;
    white-space: nowrap;
  }
  button:hover:not(:disabled) {
    background: var(--soft);
  }
  button:disabled {
    cursor: default;
    opacity: 0.55;
  }
  button.primary {
    background: var(--green);
    border-color: var(--green);
    color: #fff;
    font-weight: 600;
  }
  button.primary:hover:not(:disabled) {
    background: var(--green-dark);
  }
  button.danger {
    color: var(--red);
  }
  button.small {
    min-height: 1.9rem;
    padding: 0.2rem 0.6rem;
    font-size: 0.875rem;
  }
  :focus-visible {
    outline: 3px solid #84caff;
    outline-offset: 2px;
  }

  label {
    display: grid;
    gap: 0.25rem;
    font-size: 0.875rem;
    font-weight: 600;
  }
  /* A checkbox beside its words, not above them. */
  label.check {
    display: flex;
    align-items: center;
    gap: 0.5rem;
  }
  label.check > input {
    width: auto;
  }
  label > span.hint {
    font-weight: 400;
    color: var(--muted);
  }
  input,
  select,
  textarea {
    width: 100%;
    min-width: 0;
    border: 1px solid #d0d5dd;
    border-radius: 0.5rem;
    padding: 0.45rem 0.6rem;
    background: #fff;
    font-weight: 400;
  }
  textarea {
    resize: vertical;
    min-height: 5rem;
  }
  .form {
    display: grid;
    gap: 0.75rem;
  }
  .row {
    display: flex;
    flex-wrap: wrap;
    gap: 0.5rem;
    align-items: end;
  }
  .row > label {
    flex: 1 1 12rem;
  }
  .actions {
    display: flex;
    flex-wrap: wrap;
    gap: 0.4rem;
  }

  .error {
    color: var(--red);
    background: #fef3f2;
    border: 1px solid #fecdca;
    border-radius: 0.5rem;
    padding: 0.5rem 0.75rem;
    margin: 0.5rem 0;
    overflow-wrap: anywhere;
  }
  .success {
    color: #05603a;
    background: #ecfdf3;
    border: 1px solid #abefc6;
    border-radius: 0.5rem;
    padding: 0.5rem 0.75rem;
    margin: 0.5rem 0;
    overflow-wrap: anywhere;
  }

  /* A status light: grey while unknown, green on, red off. */
  .dot {
    display: inline-block;
    width: 0.6rem;
    height: 0.6rem;
    border-radius: 50%;
    margin-right: 0.35rem;
    background: var(--muted);
  }
  .dot.on {
    background: #17b26a;
  }
  .dot.off {
    background: var(--red);
  }
  .badge {
    display: inline-block;
    border-radius: 999px;
    padding: 0.1rem 0.6rem;
    font-size: 0.8rem;
    font-weight: 600;
    background: var(--soft);
    color: var(--muted);
    white-space: nowrap;
  }
  .badge.CONNECTED {
    background: #dcfae6;
    color: #067647;
  }
  .badge.QR,
  .badge.CONNECTING {
    background: #fef0c7;
    color: var(--amber);
  }
  .badge.LOGGED_OUT {
    background: #fee4e2;
    color: var(--red);
  }

  table {
    width: 100%;
    border-collapse: collapse;
    font-size: 0.9rem;
  }
  th,
  td {
    text-align: left;
    padding: 0.5rem;
    border-bottom: 1px solid var(--line);
    vertical-align: top;
    /* Not "anywhere": that would let columns shrink to a letter wide. Long ids and URLs are in
       code/.mono, which may break anywhere. */
    overflow-wrap: break-word;
  }
  th {
    overflow-wrap: normal;
    font-size: 0.8rem;
    text-transform: uppercase;
    letter-spacing: 0.03em;
    color: var(--muted);
    background: var(--soft);
  }
  td.empty {
    text-align: center;
    color: var(--muted);
    padding: 1.25rem 0.5rem;
  }
  /* Narrow screens: every row becomes a card, each cell labelled by its column (data-label). */
  @media (max-width: 640px) {
    table.cards thead {
      position: absolute;
      width: 1px;
      height: 1px;
      overflow: hidden;
      clip: rect(0 0 0 0);
    }
    table.cards tr {
      display: block;
      border-bottom: 1px solid var(--line);
      padding: 0.5rem 0;
    }
    table.cards td {
      display: grid;
      grid-template-columns: 6.5rem minmax(0, 1fr);
      gap: 0.5rem;
      border: 0;
      padding: 0.25rem 0;
    }
    table.cards td > * {
      grid-column: 2;
      justify-self: start;
      max-width: 100%;
    }
    table.cards td[data-label]::before {
      content: attr(data-label);
      font-weight: 600;
      font-size: 0.8rem;
      color: var(--muted);
    }
    table.cards td.empty {
      display: block;
    }
  }

  dialog {
    border: 0;
    border-radius: 0.75rem;
    padding: 1.25rem;
    width: min(30rem, calc(100vw - 1.5rem));
    max-height: calc(100vh - 2rem);
    box-shadow: 0 20px 50px rgb(16 24 40 / 0.3);
  }
  dialog::backdrop {
    background: rgb(16 24 40 / 0.5);
  }
  dialog h2 {
    margin-bottom: 0.75rem;
  }
  .dialog-actions {
    display: flex;
    flex-wrap: wrap;
    justify-content: flex-end;
    gap: 0.5rem;
    margin-top: 1rem;
  }
  .sr-only {
    position: absolute;
    width: 1px;
    height: 1px;
    overflow: hidden;
    clip: rect(0 0 0 0);
    white-space: nowrap;
  }
`;
