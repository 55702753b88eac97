"""Learned thresholds move from the tag (shared by every collection) to (tag, collection).

A collection's own tag keeps its learned cutoff, now filed under that collection. A global tag's
cutoff was learned from whichever collections reviewed it, so it belongs to none: it is dropped and
each collection learns its own from its next decisions.
"""
import django.db.models.deletion
from django.db import migrations, models


def keep_collection_thresholds(apps, schema_editor):
    Tag = apps.get_model("tagging", "Tag")
    LearnedThreshold = apps.get_model("tagging", "LearnedThreshold")
    owned = Tag.objects.filter(learned_threshold__isnull=False, vocabulary__collection__isnull=False)
    LearnedThreshold.objects.bulk_create([
        LearnedThreshold(tag_id=tag.pk, collection_id=tag.vocabulary.collection_id, value=tag.learned_threshold, examples=0)
        for tag in owned.select_related("vocabulary")])


class Migration(migrations.Migration):

    dependencies = [
        ('library', '0001_initial'),
        ('tagging', '0001_initial'),
    ]

    operations = [
        migrations.CreateModel(
            name='LearnedThreshold',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('value', models.FloatField()),
                ('examples', models.PositiveIntegerField()),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('collection', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='library.collection')),
                ('tag', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='learned_thresholds', to='tagging.tag')),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('tag', 'collection'), name='one_learned_threshold_per_tag_collection')],
            },
        ),
        migrations.RunPython(keep_collection_thresholds, migrations.RunPython.noop),
        migrations.RemoveField(
            model_name='tag',
            name='learned_threshold',
        ),
    ]
