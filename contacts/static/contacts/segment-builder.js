/* The segment rule builder: groups of conditions edited as form controls, written back as JSON into the
 * rules field (the one the server checks and saves), with a live count fetched from the admin's count URL.
 *
 * The conditions offered, their operators and the kind of value each operator takes come from the server
 * (contacts.segment_rules.segment_rules_describe, in data-conditions), so a condition registered by another
 * app appears here without a change. No inline script: the Content-Security-Policy forbids it.
 */
(function () {
  "use strict";

  var OPERATOR_LABELS = {
    equals: "equals", not_equals: "does not equal", contains: "contains", not_contains: "does not contain",
    starts_with: "starts with", is_empty: "is empty", is_not_empty: "is not empty", "in": "is one of",
    not_in: "is none of", in_any: "is on any of", in_none: "is on none of", has_any: "has any of",
    has_all: "has all of", has_none: "has none of", in_last_days: "in the last … days",
    not_in_last_days: "not in the last … days", more_than_days_ago: "more than … days ago", before: "before",
    after: "after", on: "on", between: "between", greater_than: "greater than", less_than: "less than",
    is: "is", ever: "ever", never: "never"
  };
  var RANGE_KEYS = { number_range: ["min", "max"], date_range: ["from", "to"] };

  function element(tag, attributes, children) {
    var node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) {
      if (name === "text") { node.textContent = attributes[name]; } else { node.setAttribute(name, attributes[name]); }
    });
    (children || []).forEach(function (child) { node.appendChild(child); });
    return node;
  }

  function select(options, value, attributes) {
    var node = element("select", attributes);
    options.forEach(function (option) {
      var item = element("option", { value: option[0], text: option[1] });
      if (String(option[0]) === String(value)) { item.selected = true; }
      node.appendChild(item);
    });
    return node;
  }

  function Builder(root, field) {
    this.root = root;
    this.field = field;
    this.conditions = {};
    this.order = JSON.parse(root.getAttribute("data-conditions"));
    this.order.forEach(function (condition) { this.conditions[condition.field] = condition; }, this);
    this.countUrl = root.getAttribute("data-count-url");
    this.countNode = document.getElementById("segment-count");
    this.errorsNode = document.getElementById("segment-count-errors");
    this.timer = null;
    this.request = 0;
    try {
      this.rules = JSON.parse(field.value);
    } catch (error) {
      this.rules = null;
    }
    if (!this.rules || typeof this.rules !== "object" || !Array.isArray(this.rules.groups)) {
      this.rules = { match: "all", groups: [{ match: "all", conditions: [] }] };
    }
    if (this.rules.groups.length === 0) { this.rules.groups.push({ match: "all", conditions: [] }); }
  }

  Builder.prototype.fieldOptions = function () {
    return this.order.map(function (condition) {
      return [condition.field, condition.group + ": " + condition.label];
    });
  };

  // The operators (name -> value kind) and choices of a condition, a custom field's own when it has a key.
  Builder.prototype.spec = function (condition) {
    var kind = this.conditions[condition.field];
    if (!kind) { return { operators: {}, choices: [] }; }
    if (kind.fields) {
      var chosen = kind.fields.filter(function (one) { return one.key === condition.key; })[0];
      return chosen || { operators: {}, choices: [] };
    }
    return kind;
  };

  Builder.prototype.render = function () {
    var self = this;
    this.root.textContent = "";
    var top = element("div", { "class": "segment-match" }, [
      element("label", { "for": "segment-match", text: "Contacts who match " }),
      select([["all", "all of the groups (AND)"], ["any", "any of the groups (OR)"]], this.rules.match || "all",
        { id: "segment-match", "data-role": "match" })
    ]);
    top.querySelector("select").addEventListener("change", function (event) {
      self.rules.match = event.target.value; self.changed();
    });
    this.root.appendChild(top);
    this.rules.groups.forEach(function (group, index) { self.root.appendChild(self.renderGroup(group, index)); });
    var addGroup = element("button", { type: "button", "class": "button", "data-role": "add-group", text: "Add group" });
    addGroup.addEventListener("click", function () {
      self.rules.groups.push({ match: "all", conditions: [self.newCondition()] });
      self.render(); self.changed();
    });
    this.root.appendChild(addGroup);
  };

  Builder.prototype.newCondition = function () {
    var first = this.order[0];
    var condition = { field: first.field, operator: Object.keys(first.operators)[0] };
    return condition;
  };

  Builder.prototype.renderGroup = function (group, index) {
    var self = this;
    var box = element("div", { "class": "segment-group", "data-group": String(index + 1) });
    var head = element("div", { "class": "segment-group-head" }, [
      element("strong", { text: "Group " + (index + 1) + " " }),
      element("span", { text: "matches " }),
      select([["all", "all of these conditions (AND)"], ["any", "any of these conditions (OR)"]], group.match || "all",
        { "data-role": "group-match", "aria-label": "Group " + (index + 1) + " matches" })
    ]);
    head.querySelector("select").addEventListener("change", function (event) {
      group.match = event.target.value; self.changed();
    });
    var remove = element("button", { type: "button", "class": "button segment-remove", "data-role": "remove-group", text: "Remove group" });
    remove.addEventListener("click", function () {
      self.rules.groups.splice(index, 1);
      if (self.rules.groups.length === 0) { self.rules.groups.push({ match: "all", conditions: [] }); }
      self.render(); self.changed();
    });
    head.appendChild(remove);
    box.appendChild(head);
    (group.conditions || []).forEach(function (condition, position) {
      box.appendChild(self.renderCondition(group, condition, position));
    });
    var add = element("button", { type: "button", "class": "button", "data-role": "add-condition", text: "Add condition" });
    add.addEventListener("click", function () {
      group.conditions = group.conditions || [];
      group.conditions.push(self.newCondition());
      self.render(); self.changed();
    });
    box.appendChild(add);
    return box;
  };

  Builder.prototype.renderCondition = function (group, condition, position) {
    var self = this;
    var row = element("div", { "class": "segment-condition", "data-condition": String(position + 1) });
    var fieldSelect = select(this.fieldOptions(), condition.field, { "data-role": "field", "aria-label": "Condition" });
    fieldSelect.addEventListener("change", function (event) {
      var kind = self.conditions[event.target.value];
      var fresh = { field: kind.field };
      if (kind.fields) { fresh.key = kind.fields.length ? kind.fields[0].key : ""; }
      fresh.operator = Object.keys(self.spec(fresh).operators)[0] || "";
      group.conditions[position] = fresh;
      self.render(); self.changed();
    });
    row.appendChild(fieldSelect);
    var kind = this.conditions[condition.field];
    if (kind && kind.fields) {
      var keys = kind.fields.map(function (one) { return [one.key, one.label]; });
      var keySelect = select(keys, condition.key, { "data-role": "key", "aria-label": "Custom field" });
      keySelect.addEventListener("change", function (event) {
        condition.key = event.target.value;
        condition.operator = Object.keys(self.spec(condition).operators)[0] || "";
        delete condition.value;
        self.render(); self.changed();
      });
      row.appendChild(keySelect);
    }
    var spec = this.spec(condition);
    var operators = Object.keys(spec.operators).map(function (name) { return [name, OPERATOR_LABELS[name] || name]; });
    var operatorSelect = select(operators, condition.operator, { "data-role": "operator", "aria-label": "Operator" });
    operatorSelect.addEventListener("change", function (event) {
      var before = spec.operators[condition.operator];
      condition.operator = event.target.value;
      if (spec.operators[condition.operator] !== before) { delete condition.value; }
      self.render(); self.changed();
    });
    row.appendChild(operatorSelect);
    row.appendChild(this.renderValue(condition, spec.operators[condition.operator], spec.choices || []));
    var remove = element("button", { type: "button", "class": "button segment-remove", "data-role": "remove-condition", text: "Remove" });
    remove.addEventListener("click", function () {
      group.conditions.splice(position, 1);
      self.render(); self.changed();
    });
    row.appendChild(remove);
    return row;
  };

  // The input of a value of `kind` (contacts.segment_rules.VALUE_KINDS), writing into condition.value.
  Builder.prototype.renderValue = function (condition, kind, choices) {
    var self = this;
    var box = element("span", { "class": "segment-value" });
    function set(value) {
      if (value === undefined) { delete condition.value; } else { condition.value = value; }
      self.changed();
    }
    function input(type, value, label) {
      var node = element("input", { type: type, "aria-label": label, "data-role": "value" });
      if (type === "number") { node.setAttribute("step", "any"); }
      if (value !== undefined && value !== null) { node.value = value; }
      return node;
    }
    if (kind === "none" || kind === undefined) { delete condition.value; return box; }
    if ((kind === "ids" || kind === "texts") && choices.length) {
      var multiple = select(choices, null, { multiple: "multiple", "data-role": "value", "aria-label": "Values" });
      var chosen = (condition.value || []).map(String);
      Array.prototype.forEach.call(multiple.options, function (option) { option.selected = chosen.indexOf(option.value) >= 0; });
      multiple.addEventListener("change", function () {
        var values = Array.prototype.filter.call(multiple.options, function (option) { return option.selected; })
          .map(function (option) { return kind === "ids" ? Number(option.value) : option.value; });
        set(values.length ? values : undefined);
      });
      box.appendChild(multiple);
      return box;
    }
    if (kind === "texts" || kind === "countries" || kind === "ids") {
      var list = input("text", (condition.value || []).join(", "), "Values, separated by commas");
      list.setAttribute("placeholder", kind === "countries" ? "US, CA" : "separated by commas");
      list.addEventListener("input", function () {
        var values = list.value.split(",").map(function (one) { return one.trim(); }).filter(Boolean);
        if (kind === "ids") { values = values.map(Number); }
        set(values.length ? values : undefined);
      });
      box.appendChild(list);
      return box;
    }
    if (kind === "boolean") {
      var yesNo = select([["true", "yes"], ["false", "no"]], condition.value === false ? "false" : "true",
        { "data-role": "value", "aria-label": "Value" });
      if (condition.value === undefined) { condition.value = true; }
      yesNo.addEventListener("change", function () { set(yesNo.value === "true"); });
      box.appendChild(yesNo);
      return box;
    }
    if (RANGE_KEYS[kind]) {
      var keys = RANGE_KEYS[kind];
      var current = condition.value || {};
      keys.forEach(function (key) {
        var bound = input(kind === "date_range" ? "date" : "number", current[key], key);
        bound.setAttribute("data-bound", key);
        bound.addEventListener("input", function () {
          var value = Object.assign({}, condition.value || {});
          if (bound.value === "") { delete value[key]; } else { value[key] = kind === "date_range" ? bound.value : Number(bound.value); }
          set(Object.keys(value).length ? value : undefined);
        });
        box.appendChild(element("span", { text: key + " " }));
        box.appendChild(bound);
      });
      return box;
    }
    var type = kind === "date" ? "date" : (kind === "number" || kind === "days") ? "number" : "text";
    var single = input(type, condition.value, kind === "days" ? "Days" : "Value");
    if (kind === "days") { single.setAttribute("min", "1"); single.setAttribute("step", "1"); }
    single.addEventListener("input", function () {
      if (single.value === "") { set(undefined); return; }
      set(type === "number" ? Number(single.value) : single.value);
    });
    box.appendChild(single);
    return box;
  };

  Builder.prototype.changed = function () {
    this.field.value = JSON.stringify(this.rules);
    var self = this;
    clearTimeout(this.timer);
    this.timer = setTimeout(function () { self.count(); }, 300);
  };

  Builder.prototype.count = function () {
    var self = this;
    var request = ++this.request;
    var form = this.field.form;
    var body = new FormData();
    body.append("rules", this.field.value);
    body.append("csrfmiddlewaretoken", form.querySelector("[name=csrfmiddlewaretoken]").value);
    this.countNode.textContent = "Counting…";
    this.countNode.removeAttribute("data-count");
    fetch(this.countUrl, { method: "POST", body: body, credentials: "same-origin" })
      .then(function (response) { return response.json(); })
      .then(function (answer) {
        if (request !== self.request) { return; }  // an older answer, overtaken by a later edit
        self.errorsNode.textContent = "";
        if (answer.errors) {
          self.countNode.textContent = "Not counted: the rules are not complete yet.";
          answer.errors.forEach(function (problem) { self.errorsNode.appendChild(element("li", { text: problem })); });
          return;
        }
        self.countNode.textContent = answer.count + " contacts match now; " + answer.textable + " of them may be texted.";
        self.countNode.setAttribute("data-count", String(answer.count));
      })
      .catch(function () {
        if (request === self.request) { self.countNode.textContent = "The count is not available right now."; }
      });
  };

  document.addEventListener("DOMContentLoaded", function () {
    var root = document.getElementById("segment-builder");
    var field = document.getElementById("id_rules");
    if (!root || !field) { return; }
    var builder = new Builder(root, field);
    field.closest(".form-row").classList.add("segment-rules-raw");
    builder.render();
    builder.changed();
  });
})();
