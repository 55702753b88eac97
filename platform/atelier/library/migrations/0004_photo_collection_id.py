from django.db import migrations, models


class Migration(migrations.Migration):
    """An index for the id-range shards of one collection (embedding and tagging jobs)."""

    dependencies = [
        ('library', '0003_timeline_keys'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='photo',
            index=models.Index(fields=['collection', 'id'], name='photo_coll_id'),
        ),
    ]
