import django.db.models.deletion
import pgvector.django
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = [("library", "0001_initial")]
    operations = [
        pgvector.django.VectorExtension(),
        migrations.CreateModel(
            name="PhotoVector",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("model_id", models.CharField(max_length=300)),
                ("embedding", pgvector.django.HalfVectorField()),
                ("photo", models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE,
                                            related_name="+", to="library.photo")),
            ],
            options={"constraints": [models.UniqueConstraint(fields=("photo", "model_id"), name="one_vector_per_model")]},
        ),
        migrations.CreateModel(
            name="SyncState",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("model_id", models.CharField(max_length=300, unique=True)),
                ("watermark", models.BigIntegerField(default=0)),
            ],
        ),
    ]
