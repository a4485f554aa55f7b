import { LitElement, html } from 'lit';
import { keyed } from 'lit/directives/keyed.js';
import { addGroup, deleteGroup, groups, renameGroup, type ContactGroup } from './data/contacts.ts';
import { Watch, messageOf } from './data/store.ts';
import { base } from './styles.ts';
import './wa-confirm.ts';

/** Group Management: the named sets contacts can belong to. */
export class WaContactGroups extends LitElement {
  static properties = { editing: { state: true }, opened: { state: true }, saving: { state: true }, formError: { state: true }, error: { state: true } };
  static styles = [base];

  #groups = new Watch(this, groups);
  /** The group the dialog renames; undefined while adding. */
  editing?: ContactGroup;
  opened = 0;
  saving = false;
  formError = '';
  error = '';

  render() {
    const { data, error, loading } = this.#groups.value;
    return html`<section class="card" aria-labelledby="groups-heading">
      <div class="card-head">
        <h2 id="groups-heading">Group Management</h2>
        <button class="primary" @click=${() => this.#open()}>Add Group</button>
      </div>
      ${error ? html`<p class="error" role="alert">Could not load the groups: ${error}</p>` : ''}
      ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : ''}
      <table class="cards">
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Action</th>
          </tr>
        </thead>
        <tbody>
          ${
            !data
              ? html`<tr><td colspan="2" class="empty">${loading ? 'Loading groups...' : 'Groups could not be loaded.'}</td></tr>`
              : data.length === 0
                ? html`<tr><td colspan="2" class="empty">No groups found. Click "Add Group" to create one.</td></tr>`
                : data.map(
                    (g) => html`<tr>
                    <td data-label="Name">${g.name}</td>
                    <td data-label="Action">
                      <div class="actions">
                        <button class="small" aria-label="Rename ${g.name}" @click=${() => this.#open(g)}>Rename</button>
                        <button class="small danger" aria-label="Delete ${g.name}" @click=${() => this.#delete(g)}>Delete</button>
                      </div>
                    </td>
                  </tr>`,
                  )
          }
        </tbody>
      </table>
      <dialog id="group-dialog" aria-labelledby="group-dialog-heading">
        <h2 id="group-dialog-heading">${this.editing ? `Rename ${this.editing.name}` : 'Add group'}</h2>
        ${keyed(
          this.opened,
          html`<form class="form" @submit=${this.#save}>
            <label>Group name <input name="name" required maxlength="100" autocomplete="off" value=${this.editing?.name ?? ''} /></label>
            ${this.formError ? html`<p class="error" role="alert">${this.formError}</p>` : ''}
            <div class="dialog-actions">
              <button type="button" @click=${() => this.#dialog.close()}>Cancel</button>
              <button class="primary" ?disabled=${this.saving}>${this.saving ? 'Saving…' : this.editing ? 'Rename' : 'Add group'}</button>
            </div>
          </form>`,
        )}
      </dialog>
      <wa-confirm></wa-confirm>
    </section>`;
  }

  get #dialog() {
    return this.renderRoot.querySelector<HTMLDialogElement>('#group-dialog')!;
  }

  async #open(group?: ContactGroup) {
    this.editing = group;
    this.formError = '';
    this.opened++;
    await this.updateComplete;
    this.#dialog.showModal();
  }

  async #save(event: SubmitEvent) {
    event.preventDefault();
    const name = String(new FormData(event.target as HTMLFormElement).get('name')).trim();
    this.saving = true;
    this.formError = '';
    try {
      await (this.editing ? renameGroup(this.editing.id, name) : addGroup(name));
      this.#dialog.close();
    } catch (error) {
      this.formError = messageOf(error);
    } finally {
      this.saving = false;
    }
  }

  async #delete(g: ContactGroup) {
    const confirm = this.renderRoot.querySelector('wa-confirm')!;
    if (!(await confirm.ask({ heading: `Delete the group ${g.name}?`, message: 'Its contacts stay, without a group.', action: 'Delete' }))) return;
    this.error = '';
    await deleteGroup(g.id).catch((error) => (this.error = `Could not delete ${g.name}: ${messageOf(error)}`));
  }
}

customElements.define('wa-contact-groups', WaContactGroups);
declare global {
  interface HTMLElementTagNameMap {
    'wa-contact-groups': WaContactGroups;
  }
}
