import type { ReactiveController, ReactiveControllerHost } from 'lit';

type Listener<T> = (value: T) => void;

/** What a store holds while it mirrors something on the gateway. */
export interface Remote<T> {
  data?: T;
  /** Why the last load failed; `data` then still holds what was last loaded, if anything. */
  error?: string;
  loading: boolean;
}

/**
 * A value elements watch. `onWatched` hears when the first watcher arrives and when the last one
 * leaves, so a store fetches (or polls) only while something on the page shows it.
 */
export class Store<T> {
  #value: T;
  readonly #listeners = new Set<Listener<T>>();
  readonly #onWatched?: (watched: boolean) => void;

  constructor(value: T, onWatched?: (watched: boolean) => void) {
    this.#value = value;
    this.#onWatched = onWatched;
  }

  get value(): T {
    return this.#value;
  }

  get watched(): boolean {
    return this.#listeners.size > 0;
  }

  set(value: T): void {
    this.#value = value;
    for (const listener of this.#listeners) listener(value);
  }

  /** Calls `listener` now and on every change; returns the way to stop. */
  subscribe(listener: Listener<T>): () => void {
    this.#listeners.add(listener);
    listener(this.#value);
    if (this.#listeners.size === 1) this.#onWatched?.(true);
    return () => {
      if (this.#listeners.delete(listener) && this.#listeners.size === 0) this.#onWatched?.(false);
    };
  }
}

/**
 * Keeps an element subscribed to a store exactly while it is on the page: Lit calls
 * hostConnected from the element's connectedCallback and hostDisconnected from its
 * disconnectedCallback, and every change re-renders the element.
 */
export class Watch<T> implements ReactiveController {
  value: T;
  readonly #host: ReactiveControllerHost;
  readonly #store: Store<T>;
  #unsubscribe?: () => void;

  constructor(host: ReactiveControllerHost, store: Store<T>) {
    this.#host = host;
    this.#store = store;
    this.value = store.value;
    host.addController(this);
  }

  hostConnected(): void {
    this.#unsubscribe = this.#store.subscribe((value) => {
      this.value = value;
      this.#host.requestUpdate();
    });
  }

  hostDisconnected(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
  }
}

export const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));
