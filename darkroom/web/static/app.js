// darkroom's own script: uploads with progress, drop areas, confirmations and the review keys.
// Loaded from /ui/static (the Content-Security-Policy allows no inline script and no eval).
"use strict";

(function () {
  const csrf = () => document.body.dataset.csrf || "";

  // Forms that need a yes first (delete, revoke).
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  });

  // A drop area: dropped files go to `onFiles`; dragging over it marks it.
  function dropArea(element, onFiles) {
    ["dragenter", "dragover"].forEach((name) => element.addEventListener(name, (event) => {
      event.preventDefault();
      element.classList.add("over");
    }));
    ["dragleave", "drop"].forEach((name) => element.addEventListener(name, () => element.classList.remove("over")));
    element.addEventListener("drop", (event) => {
      event.preventDefault();
      if (event.dataTransfer && event.dataTransfer.files.length) onFiles(event.dataTransfer.files);
    });
  }

  // -- upload: presign, send with a progress bar, then follow the job through its tile ----------

  function send(grant, file, bar) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open(grant.method, grant.url);
      let body = file;
      if (grant.method === "POST") { // S3's presigned POST: the form fields, then the file
        body = new FormData();
        Object.entries(grant.fields || {}).forEach(([k, v]) => body.append(k, v));
        body.append("file", file);
      } else {
        Object.entries(grant.headers || {}).forEach(([k, v]) => xhr.setRequestHeader(k, v));
      }
      xhr.upload.addEventListener("progress", (event) => {
        if (event.lengthComputable) { bar.max = event.total; bar.value = event.loaded; }
      });
      xhr.addEventListener("load", () => (xhr.status < 300 ? resolve() : reject(new Error(xhr.responseText || String(xhr.status)))));
      xhr.addEventListener("error", () => reject(new Error("the upload did not get through")));
      xhr.send(body);
    });
  }

  async function uploadOne(file, list, recipe) {
    const item = document.createElement("figure");
    item.className = "tile uploading";
    item.dataset.name = file.name;
    const caption = document.createElement("figcaption");
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = file.name;
    const bar = document.createElement("progress");
    bar.max = file.size || 1;
    bar.value = 0;
    const state = document.createElement("span");
    state.className = "status";
    state.textContent = "uploading";
    caption.append(name, bar, state);
    item.append(caption);
    list.prepend(item);
    try {
      const answer = await fetch("/ui/upload/presign", {
        method: "POST",
        headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrf() },
        body: JSON.stringify({ filename: file.name, content_type: file.type || "application/octet-stream", size: Math.max(file.size, 1), recipe }),
      });
      if (!answer.ok) throw new Error(await answer.text());
      const grant = await answer.json();
      await send(grant, file, bar);
      bar.value = bar.max;
      state.textContent = "uploaded";
      // From here the server's tile takes over, polling until the job is final.
      item.setAttribute("hx-get", "/ui/tiles/" + encodeURIComponent(grant.image_id));
      item.setAttribute("hx-trigger", "load delay:300ms");
      item.setAttribute("hx-swap", "outerHTML");
      window.htmx.process(item);
    } catch (error) {
      item.classList.add("failed");
      state.textContent = "failed: " + error.message.slice(0, 200);
    }
  }

  function setUpUpload() {
    const form = document.getElementById("upload-form");
    if (!form) return;
    const input = document.getElementById("files");
    const list = document.getElementById("uploads");
    const recipe = () => document.getElementById("recipe").value;
    const start = (files) => Array.from(files).forEach((file) => uploadOne(file, list, recipe()));
    input.addEventListener("change", () => { start(input.files); input.value = ""; });
    form.addEventListener("submit", (event) => event.preventDefault());
    dropArea(form, start);
  }

  // -- search: a dropped or chosen picture is sent at once ---------------------------------------

  function setUpLookAlike() {
    const form = document.getElementById("like-form");
    if (!form) return;
    const input = document.getElementById("like-file");
    input.addEventListener("change", () => { if (input.files.length) form.submit(); });
    dropArea(form, (files) => {
      const chosen = new DataTransfer();
      chosen.items.add(files[0]);
      input.files = chosen.files;
      form.submit();
    });
  }

  // -- review: one key per decision --------------------------------------------------------------

  function setUpReviewKeys() {
    if (document.body.dataset.page !== "review") return;
    document.addEventListener("keydown", (event) => {
      if (event.ctrlKey || event.metaKey || event.altKey) return;
      const target = event.target;
      if (target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement) return;
      const key = event.key.toLowerCase();
      const control = document.querySelector(`[data-key="${CSS.escape(key)}"], [data-key-alt="${CSS.escape(key)}"]`);
      if (control) {
        event.preventDefault();
        control.click();
      }
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    setUpUpload();
    setUpLookAlike();
    setUpReviewKeys();
  });
})();
