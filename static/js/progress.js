// Long work is visible: a form sent by POST, or a link marked data-progress, that has
// not been answered after a moment shows what the console is doing for it (read from
// /api/progress/<id>/, which the request's progress id names), how far it got and when it
// gives up. A file being sent shows how much of it arrived. core/progress.py is the other
// half.
(function () {
  "use strict";

  const QUIET_MS = 300; // an answer quicker than this shows nothing
  const POLL_MS = 500;
  // Only a signed-in user's requests have a progress record to read.
  const api = document.querySelector('meta[name="progress-api"]');
  const apiRoot = api ? api.content : null;

  function newId() {
    const bytes = new Uint8Array(16); // crypto.randomUUID needs a secure context
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function withId(url, id) {
    const address = new URL(url, window.location.href);
    address.searchParams.set("_progress", id);
    return address.toString();
  }

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function seconds(value) {
    return value < 10 ? `${value.toFixed(1)} s` : `${Math.round(value)} s`;
  }

  // One panel per waiting request, after the form or link that sent it.
  class Waiting {
    constructor(origin, id, label) {
      this.origin = origin;
      this.id = id;
      this.label = label;
      this.started = Date.now();
      this.record = null;
      this.sent = null; // {loaded, total} of a file being sent
      this.panel = null;
      this.timers = [
        window.setTimeout(() => this.show(), QUIET_MS),
        window.setInterval(() => this.poll(), POLL_MS),
      ];
    }

    show() {
      if (this.panel) return;
      const panel = element("div", "waiting card");
      panel.setAttribute("role", "status");
      panel.setAttribute("aria-live", "polite");
      panel.dataset.progressId = this.id;
      this.doing = panel.appendChild(element("p", "waiting-doing"));
      this.bar = panel.appendChild(element("progress", "waiting-bar"));
      this.elapsed = panel.appendChild(element("p", "waiting-elapsed muted"));
      this.notes = panel.appendChild(element("ol", "waiting-notes muted"));
      this.origin.insertAdjacentElement("afterend", panel);
      this.panel = panel;
      this.timers.push(window.setInterval(() => this.render(), 250));
      this.render();
    }

    poll() {
      if (!apiRoot) return;
      fetch(`${apiRoot}${this.id}/`, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      })
        .then((answer) => (answer.ok ? answer.json() : null))
        .then((record) => {
          if (!record) return;
          this.record = record;
          // Answered, yet still on this page (a download): the form may be sent again.
          if (record.state === "finished") window.setTimeout(() => this.done(), 1000);
        })
        .catch(() => {}); // the next poll tries again
    }

    render() {
      if (!this.panel) return;
      const record = this.record;
      const waited = (Date.now() - this.started) / 1000;
      const said = record && record.doing !== "Started" ? record.doing : "";
      let bound = null;
      if (this.sent && this.sent.loaded < this.sent.total) {
        const mib = (n) => (n / 1048576).toFixed(1);
        this.doing.textContent = `Sending the file: ${mib(this.sent.loaded)} of ${mib(this.sent.total)} MiB`;
        this.bar.max = this.sent.total;
        this.bar.value = this.sent.loaded;
      } else if (record && record.total) {
        this.doing.textContent = said || this.label;
        this.bar.max = record.total;
        this.bar.value = record.done || 0;
      } else if (record && record.gives_up_after) {
        // No count to show: the bar runs towards the moment this wait gives up.
        bound = record.gives_up_after;
        const inWait = Math.max(0, waited - record.since);
        this.doing.textContent = said || this.label;
        this.bar.max = bound;
        this.bar.value = Math.min(inWait, bound);
      } else {
        this.doing.textContent = said || `${this.label}…`;
        this.bar.removeAttribute("value"); // indeterminate
      }
      if (record && record.gives_up_after) bound = record.gives_up_after;
      this.elapsed.textContent =
        `Waiting ${seconds(waited)}` + (bound ? `; this step gives up after ${seconds(bound)}` : "");
      const notes = record ? record.notes.filter((note) => note.doing !== "Started") : [];
      this.notes.replaceChildren(
        ...notes.slice(0, -1).map((note) => element("li", "", `${seconds(note.at)}: ${note.doing}`))
      );
    }

    done() {
      this.stop();
      delete this.origin.dataset.waiting;
    }

    stop() {
      this.timers.forEach((timer) => window.clearTimeout(timer) || window.clearInterval(timer));
      if (this.panel) this.panel.remove();
    }
  }

  let waiting = [];

  function labelOf(...sources) {
    for (const source of sources) {
      if (source && source.dataset && source.dataset.progress) return source.dataset.progress;
    }
    return "Working";
  }

  // A file goes by XMLHttpRequest, the only way to see how much of it was sent; the answer
  // then replaces the page as a normal submission's would.
  function sendWithFile(form, submitter, url, watch) {
    const request = new XMLHttpRequest();
    request.open("POST", url);
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) watch.sent = { loaded: event.loaded, total: event.total };
    });
    request.addEventListener("load", () => {
      watch.stop();
      window.history.replaceState(null, "", request.responseURL || url);
      document.open();
      document.write(request.responseText);
      document.close();
    });
    request.addEventListener("error", () => {
      watch.sent = null;
      watch.record = {
        doing: "The console did not answer: the file was not sent. Try again.",
        notes: [],
      };
      delete form.dataset.waiting;
    });
    request.send(submitter ? new FormData(form, submitter) : new FormData(form));
  }

  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (event.defaultPrevented || form.method.toLowerCase() !== "post") return;
    if (form.hasAttribute("data-no-progress")) return;
    if (form.dataset.waiting) {
      event.preventDefault(); // a second click while the first is answered
      return;
    }
    const submitter = event.submitter;
    const id = newId();
    const target = submitter && submitter.hasAttribute("formaction") ? submitter.formAction : form.action;
    const url = withId(target, id);
    form.dataset.waiting = "1";
    const watch = new Waiting(form, id, labelOf(submitter, form));
    waiting.push(watch);
    const hasFile = Array.from(form.querySelectorAll("input[type=file]")).some((i) => i.files.length);
    if (hasFile) {
      event.preventDefault();
      watch.show();
      sendWithFile(form, submitter, url, watch);
    } else if (submitter && submitter.hasAttribute("formaction")) {
      submitter.formAction = url;
    } else {
      form.action = url;
    }
  });

  document.addEventListener("click", (event) => {
    const link = event.target.closest && event.target.closest("a[data-progress]");
    if (!link || event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    const id = newId();
    waiting.push(new Waiting(link, id, labelOf(link)));
    window.location.assign(withId(link.href, id));
  });

  // Back to a page from the history cache: nothing it showed is still waiting.
  window.addEventListener("pageshow", (event) => {
    if (!event.persisted) return;
    waiting.forEach((watch) => watch.stop());
    waiting = [];
    document.querySelectorAll("form[data-waiting]").forEach((form) => delete form.dataset.waiting);
  });
})();
