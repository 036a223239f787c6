"""The standard queues with their role groups and object permissions, and the default
routing policy (version 1, published)."""

from django.db import migrations
from django.utils import timezone

ROLES = ["generalist", "expert", "supervisor", "compliance", "admin"]
# slug, name, kind, working role, escalates to, extra roles that may also work it
QUEUES = [
    ("supervisor", "Supervisor", "supervisor", "supervisor", None, []),
    ("expert", "Expert review", "expert", "expert", "supervisor", ["supervisor"]),
    ("generalist", "General review", "generalist", "generalist", "expert",
     ["expert", "supervisor"]),
    ("fast-track", "Fast track", "fast_track", "generalist", "supervisor",
     ["expert", "supervisor"]),
    ("audit", "Audit sample", "audit", "expert", "supervisor", ["supervisor"]),
]


def forwards(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    ContentType = apps.get_model("contenttypes", "ContentType")
    GroupObjectPermission = apps.get_model("guardian", "GroupObjectPermission")
    Queue = apps.get_model("routing", "Queue")
    RoutingPolicy = apps.get_model("routing", "RoutingPolicy")
    PolicyVersion = apps.get_model("routing", "PolicyVersion")

    groups = {name: Group.objects.get_or_create(name=name)[0] for name in ROLES}
    content_type, _ = ContentType.objects.get_or_create(app_label="routing", model="queue")
    permission, _ = Permission.objects.get_or_create(
        codename="work_queue",
        content_type=content_type,
        defaults={"name": "Can claim and decide cases in this queue"},
    )
    queues = {}
    for slug, name, kind, role, _escalates, _extra in QUEUES:
        queues[slug], _ = Queue.objects.get_or_create(
            slug=slug, defaults={"name": name, "kind": kind, "role": groups[role]}
        )
    for slug, _name, _kind, role, escalates, extra in QUEUES:
        queue = queues[slug]
        if escalates and queue.escalates_to_id is None:
            queue.escalates_to = queues[escalates]
            queue.save(update_fields=["escalates_to"])
        for group_name in [role, *extra]:
            GroupObjectPermission.objects.get_or_create(
                permission=permission,
                group=groups[group_name],
                content_type=content_type,
                object_pk=str(queue.pk),
            )

    policy, _ = RoutingPolicy.objects.get_or_create(is_default=True, case_type=None)
    if policy.current_version_id is None:
        version = PolicyVersion.objects.create(
            policy=policy,
            number=1,
            mode="exception",
            auto_approve_threshold=0.95,
            expert_threshold=0.70,
            audit_sample_rate=0.05,
            high_risk_tags=[],
            rules=[
                {
                    "name": "urgent-fast-track",
                    "when": {"field": "priority", "op": "eq", "value": "urgent"},
                    "then": {"route_to": "fast-track"},
                }
            ],
            required_reviews=1,
            sla_minutes={"low": 1440, "normal": 240, "high": 60, "urgent": 15},
            fast_track_window_minutes=30,
            generalist_queue="generalist",
            expert_queue="expert",
            fast_track_queue="fast-track",
            audit_queue="audit",
            note="Installed default policy.",
            changes={"created": True},
            published_at=timezone.now(),
        )
        policy.current_version = version
        policy.save(update_fields=["current_version"])


def backwards(apps, schema_editor):
    RoutingPolicy = apps.get_model("routing", "RoutingPolicy")
    PolicyVersion = apps.get_model("routing", "PolicyVersion")
    Queue = apps.get_model("routing", "Queue")
    GroupObjectPermission = apps.get_model("guardian", "GroupObjectPermission")
    RoutingPolicy.objects.filter(is_default=True).update(current_version=None)
    PolicyVersion.objects.filter(policy__is_default=True, note="Installed default policy.").delete()
    RoutingPolicy.objects.filter(is_default=True, versions__isnull=True).delete()
    slugs = [q[0] for q in QUEUES]
    ids = [str(pk) for pk in Queue.objects.filter(slug__in=slugs).values_list("pk", flat=True)]
    GroupObjectPermission.objects.filter(
        content_type__app_label="routing", object_pk__in=ids
    ).delete()
    Queue.objects.filter(slug__in=slugs, entries__isnull=True).update(escalates_to=None)
    Queue.objects.filter(slug__in=slugs, entries__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("routing", "0001_initial"),
        ("cases", "0002_role_groups"),
        ("guardian", "0003_remove_groupobjectpermission_guardian_gr_content_ae6aec_idx_and_more"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
