"""Small helpers shared by the models, wizards and controllers (no model here)."""


def selection_label(record, field_name):
    """The translated label of ``record``'s selection value, for messages
    shown to users (who should read "Running", not ``running``)."""
    value = record[field_name]
    labels = dict(record._fields[field_name]._description_selection(record.env))
    return labels.get(value, value or "")


def form_action(record, action_xmlid=None, target="current", name=None):
    """The window action that opens ``record`` alone in its form view: the
    action ``action_xmlid`` (its title and context) pointed at the record,
    or a bare one without it (a wizard showing itself again)."""
    if action_xmlid:
        action = record.env["ir.actions.act_window"]._for_xml_id(action_xmlid)
    else:
        # The model's (translated) description as the title: without a name
        # the dialog of a wizard showing itself again is titled "Odoo".
        action = {
            "type": "ir.actions.act_window",
            "res_model": record._name,
            "name": name or record.env["ir.model"]._get(record._name).name,
        }
    action.update({"res_id": record.id, "view_mode": "form", "views": [(False, "form")], "target": target})
    return action
