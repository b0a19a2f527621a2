// The Webhooks page: webhook.list, webhook.add {url, events, secret?}
// (the secret shown once, with a copy button), webhook.remove, and a
// webhook's recent deliveries (webhook.deliveries). The daemon sends no
// event about deliveries, but the page sees the events the webhooks are
// sent: one that a webhook takes makes the page read the list (and the
// deliveries shown) again, a moment later.

import { byId, h, setText } from "./dom.js";
import * as fmt from "./format.js";
import { NEEDS_ADMIN, PageState, cell, confirmClick, copyText, emptyRow, type Page, type PageDeps } from "./settings-page.js";
import { EPHEMERAL, type ApiEvent, type Delivery, type Webhook, type WebhookAdded } from "./types.js";

const REREAD_DELAY = 700; // ms after an event before reading again

export class WebhooksPage implements Page {
  private readonly state = new PageState("sp-webhooks");
  private hooks: Webhook[] = [];
  // deliveriesOf is the webhook whose deliveries are shown ("": none).
  private deliveriesOf = "";
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly d: PageDeps) {
    byId("f-hook").addEventListener("submit", (e) => {
      e.preventDefault();
      void this.add();
    });
    byId("hook-all").addEventListener("change", () => this.syncAll());
    byId("hook-secret-copy").addEventListener("click", () => void copyText(byId("hook-secret-value"), d));
    byId("hook-secret-done").addEventListener("click", () => this.hideSecret());
    byId("hook-deliveries-refresh").addEventListener("click", () => void this.showDeliveries(this.deliveriesOf));
    byId("hook-deliveries-close").addEventListener("click", () => {
      this.deliveriesOf = "";
      byId("hook-deliveries").hidden = true;
    });
  }

  async open(): Promise<void> {
    this.renderEventChoice();
    if (!this.d.admin()) {
      this.state.blocked(NEEDS_ADMIN);
      return;
    }
    await this.load();
  }

  event(ev: ApiEvent): void {
    if (EPHEMERAL.has(ev.name)) return;
    if (this.hooks.some((w) => w.events.includes("*") || w.events.includes(ev.name))) {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => void this.load(), REREAD_DELAY);
    }
  }

  categoriesChanged(): void {}

  // renderEventChoice offers every event this daemon knows, but the
  // snapshots sent every second (task.progress, session.stats).
  private renderEventChoice(): void {
    const box = byId("hook-events");
    if (box.querySelectorAll("input[data-event]").length > 0) return;
    const names = this.d.eventNames().filter((n) => !EPHEMERAL.has(n));
    box.append(...names.map((n) => h("label", { class: "check" }, h("input", { type: "checkbox", value: n, "data-event": true }), h("code", null, n))));
  }

  private syncAll(): void {
    const all = byId<HTMLInputElement>("hook-all").checked;
    for (const i of byId("hook-events").querySelectorAll<HTMLInputElement>("input[data-event]")) i.disabled = all;
  }

  private async load(): Promise<void> {
    try {
      this.hooks = (await this.d.api.call<{ webhooks: Webhook[] }>("webhook.list")).webhooks ?? [];
    } catch (e) {
      this.state.failed(e, "webhook.list", this.d.report, "Read the webhooks");
      return;
    }
    this.state.blocked("");
    const rows = this.hooks.map((w) => {
      const del = h("button", { type: "button", class: "small", "aria-label": `Deliveries to ${w.url}` }, "Deliveries");
      del.addEventListener("click", () => void this.showDeliveries(w.webhook_id));
      const rm = h("button", { type: "button", class: "small danger", "aria-label": `Remove the webhook to ${w.url}` }, "Remove");
      rm.addEventListener("click", () => {
        if (confirmClick(rm, "Remove?")) void this.remove(w);
      });
      return h("tr", { "data-id": w.webhook_id },
        cell(w.url, "url"),
        cell(w.events.includes("*") ? "all" : w.events.join(", ")),
        cell(String(w.pending ?? 0), "num"),
        cell(w.last_status ? String(w.last_status) : "—"),
        cell(fmt.unix(w.last_delivery_at)),
        h("td", { class: "actions" }, del, rm));
    });
    byId("hook-body").replaceChildren(...(rows.length > 0 ? rows : [emptyRow(6, "No webhooks yet.")]));
    if (this.deliveriesOf) await this.showDeliveries(this.deliveriesOf);
  }

  private async showDeliveries(id: string): Promise<void> {
    if (!id) return;
    this.deliveriesOf = id;
    let list: Delivery[];
    try {
      list = (await this.d.api.call<{ deliveries: Delivery[] }>("webhook.deliveries", { webhook_id: id })).deliveries ?? [];
    } catch (e) {
      this.d.report(e, "Read the deliveries");
      return;
    }
    if (this.deliveriesOf !== id) return;
    const w = this.hooks.find((x) => x.webhook_id === id);
    setText(byId("hook-deliveries-title"), `Recent deliveries to ${w?.url ?? id}`);
    byId("hook-deliveries-body").replaceChildren(...(list.length > 0
      ? list.map((x) => h("tr", { "data-event-id": x.event_id, "data-state": x.state },
        h("td", null, h("code", null, x.event), h("div", { class: "muted small-text" }, `#${x.event_id}`)),
        cell(x.state, `d-${x.state}`),
        cell(x.status ? String(x.status) : "—", "num"),
        cell(String(x.attempts), "num"),
        cell(fmt.unix(x.last_attempt_at, "—")),
        cell(x.state === "pending" ? fmt.unix(x.next_attempt_at, "—") : ""),
        cell(x.error ?? "", "error")))
      : [emptyRow(7, "No deliveries yet: they appear when an event it takes happens.")]));
    byId("hook-deliveries").hidden = false;
  }

  private async add(): Promise<void> {
    const url = byId<HTMLInputElement>("hook-url").value.trim();
    const events = byId<HTMLInputElement>("hook-all").checked
      ? ["*"]
      : [...byId("hook-events").querySelectorAll<HTMLInputElement>("input[data-event]:checked")].map((i) => i.value);
    if (events.length === 0) {
      this.d.report(new Error("choose at least one event (or All events)"), `Add webhook ${url}`);
      return;
    }
    const secret = byId<HTMLInputElement>("hook-secret-in").value;
    const ok = byId<HTMLButtonElement>("hook-ok");
    ok.disabled = true;
    try {
      const w = await this.d.api.call<WebhookAdded>("webhook.add", secret ? { url, events, secret } : { url, events });
      byId<HTMLInputElement>("hook-url").value = "";
      byId<HTMLInputElement>("hook-secret-in").value = "";
      for (const i of byId("hook-events").querySelectorAll<HTMLInputElement>("input")) i.checked = false;
      this.syncAll();
      setText(byId("hook-secret-value"), w.secret);
      byId("hook-secret").hidden = false;
      this.d.notify(`Webhook added: ${w.url}.`);
    } catch (e) {
      this.d.report(e, `Add webhook ${url}`);
    } finally {
      ok.disabled = false;
    }
    await this.load();
  }

  // hideSecret forgets the secret shown: it is never shown again.
  private hideSecret(): void {
    setText(byId("hook-secret-value"), "");
    byId("hook-secret").hidden = true;
  }

  private async remove(w: Webhook): Promise<void> {
    try {
      await this.d.api.call("webhook.remove", { webhook_id: w.webhook_id });
      this.d.notify(`Webhook removed: ${w.url}.`);
      if (this.deliveriesOf === w.webhook_id) {
        this.deliveriesOf = "";
        byId("hook-deliveries").hidden = true;
      }
    } catch (e) {
      this.d.report(e, `Remove the webhook to ${w.url}`);
    }
    await this.load();
  }
}
