/* placeholder until the command lands */
#include "cleanroom/cleanroom.h"
int main(void) { return 0; }
