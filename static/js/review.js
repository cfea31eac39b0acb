/* The review screen: keyboard shortcuts, evidence emphasis, add-by-selection.
 *
 * j/k move between findings, a approves, r opens reject, e opens edit,
 * p opens provenance, n adds a finding from the selected text, t opens the
 * patient timeline, Escape closes open forms. Hovering or focusing a finding
 * (or a grid cell) emphasises its evidence span in the report.
 *
 * Offsets sent to the server are Unicode code points into the report text,
 * counted with the string iterator (JavaScript strings are UTF-16). The report
 * text is made of <span class="seg"> elements whose text nodes are exact copies
 * of the original, and it is only ever read with textContent.
 */
(function () {
  "use strict";

  const state = { focus: null };
  if (window.htmx) htmx.config.defaultSettleDelay = 0;

  function $(id) { return document.getElementById(id); }
  function main() { return $("review-main"); }
  function findings() { return Array.from(document.querySelectorAll("#finding-panel .finding")); }
  function codePoints(s) { let n = 0; for (const _ of s) n++; return n; }

  function emphasise(start, end) {
    document.querySelectorAll("#report-text .seg.ev-focus").forEach((el) => el.classList.remove("ev-focus"));
    if (start === null || start === undefined || start === "") return;
    const s = Number(start), e = Number(end);
    let first = null;
    document.querySelectorAll("#report-text .seg").forEach((el) => {
      if (Number(el.dataset.start) >= s && Number(el.dataset.end) <= e) {
        el.classList.add("ev-focus");
        if (!first) first = el;
      }
    });
    return first;
  }

  function focusFinding(el, scroll) {
    findings().forEach((f) => f.classList.remove("focus"));
    if (!el) return;
    el.classList.add("focus");
    state.focus = el.dataset.id;
    if (scroll) el.focus({ preventScroll: false });
    const first = emphasise(el.dataset.evStart, el.dataset.evEnd);
    if (first && scroll) first.scrollIntoView({ block: "nearest" });
  }

  function current() {
    return findings().find((f) => f.dataset.id === state.focus) || null;
  }

  function move(step) {
    const all = findings();
    if (!all.length) return;
    const at = all.indexOf(current());
    const next = at < 0 ? (step > 0 ? 0 : all.length - 1) : Math.min(all.length - 1, Math.max(0, at + step));
    focusFinding(all[next], true);
  }

  function openDetails(selector, focusSel) {
    const f = current();
    if (!f) return;
    const d = f.querySelector(selector);
    if (!d) return;
    d.open = true;
    const field = d.querySelector(focusSel || "select, input:not([type=hidden])");
    if (field) field.focus();
  }

  // Code-point offsets of the current selection inside #report-text, or null.
  function selectedSpan() {
    const root = $("report-text");
    const sel = window.getSelection();
    if (!root || !sel || sel.rangeCount === 0 || sel.isCollapsed) return null;
    const range = sel.getRangeAt(0);
    if (!root.contains(range.startContainer) || !root.contains(range.endContainer)) return null;
    const before = document.createRange();
    before.setStart(root, 0);
    before.setEnd(range.startContainer, range.startOffset);
    const start = codePoints(before.toString());
    const text = range.toString();
    if (!text.trim()) return null;
    return { start: start, end: start + codePoints(text), text: text };
  }

  function rememberSelection() {
    const span = selectedSpan();
    const label = $("add-selection");
    if (!span || !label) return;
    $("add-start").value = span.start;
    $("add-end").value = span.end;
    label.textContent = "Selected: “" + span.text + "”";
  }

  function addFromSelection() {
    rememberSelection();
    const key = $("add-key");
    if (key) key.focus();
  }

  function onKey(ev) {
    const t = ev.target;
    const typing = t && (t.tagName === "INPUT" || t.tagName === "SELECT" || t.tagName === "TEXTAREA");
    if (ev.key === "Escape") {
      document.querySelectorAll("#review-main details[open]").forEach((d) => { d.open = false; });
      const f = current();
      if (f) f.focus();
      return;
    }
    if (typing || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const editable = main() && main().dataset.editable === "1";
    switch (ev.key) {
      case "j": move(1); break;
      case "k": move(-1); break;
      case "a": {
        const f = current();
        const b = f && f.querySelector(".act-approve");
        if (editable && b) b.click();
        break;
      }
      case "r": if (editable) openDetails(".act-reject", "select"); break;
      case "e": if (editable) openDetails(".act-edit", "select"); break;
      case "p": openDetails(".provenance", "summary"); break;
      case "n": if (editable) addFromSelection(); break;
      case "t": { const b = $("timeline-btn"); if (b) b.click(); break; }
      default: return;
    }
    ev.preventDefault();
  }

  function wire() {
    const root = main();
    if (!root) return;
    const wanted = root.dataset.focus || state.focus;
    const all = findings();
    const pending = all.find((f) => f.classList.contains("rv-f-pending"));
    // After a decision the next undecided finding has the focus, so a/j/k keep flowing.
    focusFinding(pending || all.find((f) => f.dataset.id === wanted) || all[0] || null, false);
    const text = $("report-text");
    if (text) text.addEventListener("mouseup", rememberSelection);
  }

  // Grid cells post through one delegated handler (the grid is built server-side
  // without per-cell htmx attributes); htmx.ajax with the cell as source keeps
  // the CSRF header that <body hx-headers> provides.
  document.addEventListener("click", (ev) => {
    const cell = ev.target.closest && ev.target.closest("#grid .cell");
    if (!cell || cell.disabled || !window.htmx) return;
    const values = { lesion: cell.dataset.lesion, location: cell.dataset.location };
    if (cell.dataset.version) values.version = cell.dataset.version;
    htmx.ajax("POST", $("grid").dataset.url, { source: cell, target: "#review-main", swap: "outerHTML", values: values });
  });

  document.addEventListener("keydown", onKey);
  document.addEventListener("mouseover", (ev) => {
    const cell = ev.target.closest && ev.target.closest(".rv-grid .cell, #finding-panel .finding");
    if (cell) emphasise(cell.dataset.evStart, cell.dataset.evEnd);
  });
  document.addEventListener("focusin", (ev) => {
    const f = ev.target.closest && ev.target.closest("#finding-panel .finding");
    if (f && f.dataset.id !== state.focus) focusFinding(f, false);
  });
  document.addEventListener("mouseout", (ev) => {
    const cell = ev.target.closest && ev.target.closest(".rv-grid .cell, #finding-panel .finding");
    if (cell) { const f = current(); emphasise(f && f.dataset.evStart, f && f.dataset.evEnd); }
  });
  document.addEventListener("DOMContentLoaded", wire);
  document.addEventListener("htmx:afterSwap", (ev) => { if (ev.detail.target && ev.detail.target.id !== "timeline") wire(); });
  document.addEventListener("htmx:afterSettle", (ev) => {
    if (ev.detail.elt && ev.detail.elt.id === "review-main") wire();
  });

  window.RadReview = { selectedSpan: selectedSpan, focusFinding: focusFinding };
})();
