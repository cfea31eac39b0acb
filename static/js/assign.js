// Show only the inputs the chosen way of picking reports uses (all stay in the
// form without JavaScript; the server ignores the others).
(function () {
  const how = document.getElementById("id_how");
  if (!how) return;
  const uses = { batch: ["external_ids"], sample: ["n"], search: ["query", "n"] };
  function toggle() {
    for (const name of ["external_ids", "n", "query"]) {
      const field = document.querySelector('#assign-form [data-field="' + name + '"]');
      if (field) field.hidden = !(uses[how.value] || []).includes(name);
    }
  }
  how.addEventListener("change", toggle);
  toggle();
})();
