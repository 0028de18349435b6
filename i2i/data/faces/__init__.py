"""Faces for face swapping: DeepFaceLab-style alignment (`align`), landmark providers (`providers`, MTCNN in
`mtcnn`), aligned facesets (`faceset`: DFL's JPEGs read safely, i2i's own format), synthetic faces (`synth`)
and the `faces` dataset layout (`layout`)."""
