// The silence form, shared by the events list, the event page and the client page.
import { post } from "./api.js";
import { h, message, replace } from "./dom.js";

// targets: [{site, subscription, check?}]; onDone(text) after every silence was created.
export function silenceForm(targets, onDone, onCancel) {
  const status = h("div", { class: "form-status" });
  const expire = h("input", { type: "number", name: "expire", min: "1", placeholder: "never", id: "silence-expire" });
  const begin = h("input", { type: "datetime-local", name: "begin", id: "silence-begin" });
  const reason = h("input", { type: "text", name: "reason", maxlength: "500", id: "silence-reason", placeholder: "maintenance" });
  const onResolve = h("input", { type: "checkbox", name: "expire_on_resolve", id: "silence-eor" });
  const submit = h("button", { type: "submit", class: "primary" }, `Silence ${targets.length === 1 ? "it" : targets.length + " items"}`);
  const form = h("form", { class: "panel silence-form", "aria-label": "Silence" },
    h("h3", {}, "Silence ", targets.map((t) => t.check ? `${t.subscription} ${t.check}` : t.subscription).join(", ")),
    h("div", { class: "fields" },
      h("label", { for: "silence-expire" }, "Expire after (seconds)", expire),
      h("label", { for: "silence-begin" }, "Begin", begin),
      h("label", { for: "silence-reason" }, "Reason", reason),
      h("label", { for: "silence-eor", class: "check" }, onResolve, " Expire on resolve")),
    h("div", { class: "actions" }, submit,
      h("button", { type: "button", onclick: () => onCancel && onCancel() }, "Cancel")),
    status);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    const body = { creator: "dashboard", expire_on_resolve: onResolve.checked };
    if (expire.value) body.expire = Number(expire.value);
    if (reason.value) body.reason = reason.value;
    if (begin.value) body.begin = Math.floor(new Date(begin.value).getTime() / 1000);
    const failed = [];
    for (const target of targets) {
      const one = { ...body, subscription: target.subscription };
      if (target.check) one.check = target.check;
      try {
        await post(target.site, "silenced", one);
      } catch (error) {
        failed.push(`${target.subscription} ${target.check || ""}: ${error.message}`);
      }
    }
    submit.disabled = false;
    if (failed.length) replace(status, message("error", `Not silenced: ${failed.join("; ")}`));
    else onDone(`Silenced ${targets.length} item${targets.length === 1 ? "" : "s"}.`);
  });
  setTimeout(() => expire.focus(), 0);
  return form;
}
